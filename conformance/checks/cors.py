"""CORS checks (CORS-01..04): preflights, exposed headers, and the DPoP flow in a real browser.

Header lists are compared case-insensitively as comma-separated lists (every occurrence of the
header). A ``*`` wildcard counts as the Fetch standard says for requests without credentials
(browser ATProto clients send tokens in headers, never cookies): it allows any request header
*except* ``Authorization``, which must be listed by name; it exposes every response header; it
allows any method.

CORS-04 reports each symptom of the identity.md table by name (``CORS_TABLE``) when the browser
run shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from conformance.browser.flow import (
    STEP_AUTHORIZATION_ONLY,
    STEP_DPOP_ONLY,
    STEP_FIRST,
    STEP_RETRY,
    STEP_SIMPLE,
    BrowserFlowResult,
    BrowserStep,
)
from conformance.checks.base import Failure
from conformance.scenarios.base import describe_response
from conformance.scenarios.cors import (
    EXPOSED_HEADERS,
    REQUIRED_CLASSES,
    REQUIRED_METHODS,
    ActualProbe,
    ActualResponseProbes,
    PreflightProbe,
    PreflightProbes,
    header_list,
)

WILDCARD = "*"
USE_DPOP_NONCE = "use_dpop_nonce"


def _quote(values: Iterable[str]) -> str:
    return ", ".join(values)


def allow_origin_problem(response: httpx.Response, origin: str) -> str | None:
    """Why ``Access-Control-Allow-Origin`` does not let ``origin`` read the response, or None."""
    values = response.headers.get_list("access-control-allow-origin")
    if not values:
        return "no Access-Control-Allow-Origin"
    if len(values) > 1:
        return f"Access-Control-Allow-Origin sent {len(values)} times ({_quote(values)})"
    value = values[0].strip()
    if value not in (origin, WILDCARD):
        return f"Access-Control-Allow-Origin is {value!r}, expected {origin!r} or '*'"
    return None


def missing_allowed_headers(response: httpx.Response, wanted: Iterable[str]) -> tuple[str, ...]:
    """The request headers of ``wanted`` a preflight response does not allow."""
    allowed = set(header_list(response, "access-control-allow-headers"))
    wildcard = WILDCARD in allowed
    return tuple(
        h
        for h in (w.lower() for w in wanted)
        if h not in allowed and not (wildcard and h != "authorization")
    )


def missing_allowed_methods(response: httpx.Response, wanted: Iterable[str]) -> tuple[str, ...]:
    allowed = {m.upper() for m in header_list(response, "access-control-allow-methods")}
    if WILDCARD in allowed:
        return ()
    return tuple(m for m in (w.upper() for w in wanted) if m not in allowed)


def missing_exposed_headers(
    response: httpx.Response, wanted: Iterable[str] = EXPOSED_HEADERS
) -> tuple[str, ...]:
    exposed = set(header_list(response, "access-control-expose-headers"))
    if WILDCARD in exposed:
        return ()
    return tuple(h for h in (w.lower() for w in wanted) if h not in exposed)


# --- CORS-01 ---------------------------------------------------------------------------------


def preflight_problems(probe: PreflightProbe) -> list[str]:
    response, request = probe.response, probe.request
    status = response.status_code
    if status not in (200, 204):
        return [f"{probe.case}: expected 204 (or 200), got {describe_response(response)}"]
    problems: list[str] = []
    if (problem := allow_origin_problem(response, request.origin)) is not None:
        problems.append(f"{probe.case}: {problem}")
    missing = missing_allowed_headers(response, request.headers)
    if missing:
        got = _quote(response.headers.get_list("access-control-allow-headers")) or "(absent)"
        wildcard = WILDCARD in header_list(response, "access-control-allow-headers")
        note = (
            " ('*' does not cover authorization)" if wildcard and "authorization" in missing else ""
        )
        problems.append(
            f"{probe.case}: Access-Control-Allow-Headers lacks {_quote(missing)}{note} (got {got})"
        )
    missing_methods = missing_allowed_methods(response, REQUIRED_METHODS)
    if missing_methods:
        got = _quote(response.headers.get_list("access-control-allow-methods")) or "(absent)"
        problems.append(
            f"{probe.case}: Access-Control-Allow-Methods lacks {_quote(missing_methods)} "
            f"(got {got})"
        )
    return problems


def check_preflight(probes: PreflightProbes) -> Failure | None:
    """CORS-01: each preflight → 204/200, Allow-Origin (origin or ``*``), Allow-Headers with every
    requested header, Allow-Methods ⊇ GET, POST."""
    bad = [(p, problems) for p in probes.probes if (problems := preflight_problems(p))]
    if not bad:
        return None
    return Failure(
        "CORS-01",
        "preflight does not allow a browser ATProto client's request",
        "; ".join(problem for _, problems in bad for problem in problems),
        tuple(p.response for p, _ in bad),
    )


# --- CORS-02 (SHOULD) ------------------------------------------------------------------------


def preflight_max_age(response: httpx.Response) -> int | None:
    """The preflight's ``Access-Control-Max-Age`` in seconds (None: absent or not an integer)."""
    values = response.headers.get_list("access-control-max-age")
    if len(values) != 1:
        return None
    value = values[0].strip()
    return int(value) if value.isdigit() else None


def check_preflight_max_age(probes: PreflightProbes) -> Failure | None:
    """CORS-02: preflight responses carry a usable ``Access-Control-Max-Age``."""
    bad: list[tuple[PreflightProbe, str]] = []
    for probe in probes.probes:
        response = probe.response
        if response.status_code not in (200, 204):
            bad.append((probe, f"{probe.case}: preflight refused ({describe_response(response)})"))
            continue
        raw = response.headers.get_list("access-control-max-age")
        if not raw:
            bad.append((probe, f"{probe.case}: no Access-Control-Max-Age"))
        elif preflight_max_age(response) is None:
            bad.append(
                (
                    probe,
                    f"{probe.case}: Access-Control-Max-Age {_quote(raw)!r} is not one "
                    "non-negative integer",
                )
            )
        elif preflight_max_age(response) == 0:
            bad.append((probe, f"{probe.case}: Access-Control-Max-Age is 0 (never cached)"))
    if not bad:
        return None
    return Failure(
        "CORS-02",
        "preflight responses are not cacheable (Access-Control-Max-Age)",
        "; ".join(problem for _, problem in bad)
        + " — every authenticated request then pays for a preflight (the reference sends 86400)",
        tuple(p.response for p, _ in bad),
    )


# --- CORS-03 ---------------------------------------------------------------------------------


def check_exposed_headers(
    probes: ActualResponseProbes, *, required_classes: Iterable[str] = REQUIRED_CLASSES
) -> Failure | None:
    """CORS-03: every actual response carries Allow-Origin and Expose-Headers ⊇ dpop-nonce,
    www-authenticate and the four ratelimit-* headers. Each of ``required_classes`` (2xx, 401,
    404 by default) must have been obtained, or the check cannot vouch for that class."""
    # Group identical problems so a header missing everywhere is reported once, with where.
    grouped: dict[str, list[ActualProbe]] = {}
    for probe in probes.probes:
        response = probe.response
        found: list[str] = []
        if (problem := allow_origin_problem(response, probes.origin)) is not None:
            found.append(problem)
        missing = missing_exposed_headers(response)
        if missing:
            got = _quote(response.headers.get_list("access-control-expose-headers")) or "(absent)"
            found.append(f"Access-Control-Expose-Headers lacks {_quote(missing)} (got {got})")
        if found:
            grouped.setdefault("; ".join(found), []).append(probe)
    problems: list[str] = []
    deciding: list[httpx.Response] = []
    total = len(probes.probes)
    for problem, where in grouped.items():
        classes = _quote(dict.fromkeys(p.status_class for p in where))
        if len(where) == 1:
            at = f"{where[0].case} → {where[0].response.status_code}"
        else:
            at = f"{len(where)} of {total} responses ({classes}), e.g. {where[0].case}"
        problems.append(f"{problem} — on {at}")
        deciding.extend(p.response for p in where)
    obtained = set(probes.classes)
    absent = [c for c in required_classes if c not in obtained]
    if absent:
        sent = "; ".join(f"{p.case} → {p.response.status_code}" for p in probes.probes)
        problems.append(f"no {_quote(absent)} response could be obtained to judge (sent: {sent})")
    if not problems:
        return None
    return Failure(
        "CORS-03",
        "responses do not let a browser client read DPoP-Nonce, WWW-Authenticate and rate limits",
        "; ".join(problems),
        tuple(deciding),
    )


# --- CORS-04 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorsSymptom:
    """One row of the identity.md CORS table: what is missing, what a browser client sees."""

    header: str
    missing: str
    symptom: str

    @property
    def name(self) -> str:
        return f"{self.missing} → {self.symptom}"


DPOP_NOT_ALLOWED = CorsSymptom(
    "dpop",
    "`dpop` missing from allowed headers",
    "preflight fails; every authenticated request is a CORS error",
)
NONCE_NOT_EXPOSED = CorsSymptom(
    "dpop-nonce", "`dpop-nonce` not exposed", "client cannot read the nonce; 401 loop"
)
WWW_AUTHENTICATE_NOT_EXPOSED = CorsSymptom(
    "www-authenticate",
    "`www-authenticate` not exposed",
    "client cannot see use_dpop_nonce; generic auth failure",
)
AUTHORIZATION_NOT_ALLOWED = CorsSymptom(
    "authorization",
    "`authorization` missing from allowed headers",
    "the token never arrives; every request 401",
)
CORS_TABLE = (
    DPOP_NOT_ALLOWED,
    NONCE_NOT_EXPOSED,
    WWW_AUTHENTICATE_NOT_EXPOSED,
    AUTHORIZATION_NOT_ALLOWED,
)


@dataclass(frozen=True)
class FoundSymptom:
    symptom: CorsSymptom
    evidence: str


def _console_about(result: BrowserFlowResult, *needles: str) -> str:
    for line in result.console:
        lowered = line.lower()
        if "cors" in lowered and all(n.lower() in lowered for n in needles):
            return f' (console: "{line[:300]}")'
    return ""


def _ran(step: BrowserStep | None) -> bool:
    return step is not None and step.ran and not step.threw


def _network_header(result: BrowserFlowResult, step: BrowserStep, header: str) -> bool | None:
    """Whether the network layer saw ``header`` on the step's response (None: no record)."""
    seen = [n for n in result.network_for(step.name) if n.status == step.status]
    if not seen:
        return None
    return any(n.has(header) for n in seen)


def _exposed_note(result: BrowserFlowResult, step: BrowserStep) -> str:
    for seen in result.network_for(step.name):
        if seen.expose_headers is not None:
            return f"Access-Control-Expose-Headers was {seen.expose_headers!r}"
    return "no Access-Control-Expose-Headers"


def _unreadable(result: BrowserFlowResult, step: BrowserStep, header: str) -> str | None:
    """Evidence that the step's response carried ``header`` but script could not read it."""
    if not _ran(step) or step.can_read(header):
        return None
    sent = _network_header(result, step, header)
    if sent is False:
        return None  # not sent at all: not a CORS symptom (the DPoP checks judge that)
    how = "the server sent it" if sent else "expected on this response"
    return (
        f"step {step.name!r} got {step.status} and script could not read {header} "
        f"({how}; {_exposed_note(result, step)})"
    )


def _asked_for_nonce(result: BrowserFlowResult, step: BrowserStep) -> bool:
    if step.status != 401:
        return False
    if USE_DPOP_NONCE in (step.challenge_error, step.body_error):
        return True
    return any(n.challenge_error == USE_DPOP_NONCE for n in result.network_for(step.name))


def browser_symptoms(result: BrowserFlowResult) -> tuple[FoundSymptom, ...]:
    """The CORS-table symptoms the browser run shows (in table order)."""
    found: dict[str, FoundSymptom] = {}
    simple = result.step(STEP_SIMPLE)
    if simple is not None and simple.threw:
        return ()  # nothing is readable cross-origin; the four rows cannot be told apart

    dpop_only = result.step(STEP_DPOP_ONLY)
    if dpop_only is not None and dpop_only.threw:
        found["dpop"] = FoundSymptom(
            DPOP_NOT_ALLOWED,
            "a fetch carrying the DPoP header was blocked by its preflight"
            + _console_about(result, "dpop"),
        )
    authorization_only = result.step(STEP_AUTHORIZATION_ONLY)
    if authorization_only is not None and authorization_only.threw:
        found["authorization"] = FoundSymptom(
            AUTHORIZATION_NOT_ALLOWED,
            "a fetch carrying the Authorization header was blocked by its preflight"
            + _console_about(result, "authorization"),
        )

    steps = [s for s in result.steps if _ran(s)]
    for step in steps:
        if step.status == 401 and "www-authenticate" not in found:
            evidence = _unreadable(result, step, "www-authenticate")
            if evidence is not None:
                found["www-authenticate"] = FoundSymptom(WWW_AUTHENTICATE_NOT_EXPOSED, evidence)
    for step in steps:
        if "dpop-nonce" in found:
            break
        if _asked_for_nonce(result, step) or _network_header(result, step, "dpop-nonce"):
            evidence = _unreadable(result, step, "dpop-nonce")
            if evidence is not None:
                retry = result.step(STEP_RETRY)
                if _ran(retry) and retry is not None and not retry.sent_nonce:
                    evidence += f"; the retry went without a nonce and got {retry.status} again"
                found["dpop-nonce"] = FoundSymptom(NONCE_NOT_EXPOSED, evidence)
    return tuple(found[s.header] for s in CORS_TABLE if s.header in found)


def flow_completed(result: BrowserFlowResult) -> bool:
    """The flow's authenticated request succeeded (at once, or on the nonce retry)."""
    first, retry = result.step(STEP_FIRST), result.step(STEP_RETRY)
    return any(s is not None and s.ran and s.succeeded for s in (first, retry))


def check_browser_dpop_flow(result: BrowserFlowResult) -> Failure | None:
    """CORS-04: from another origin, a page's ``fetch`` completes the DPoP flow (preflight passes,
    the 401's DPoP-Nonce and WWW-Authenticate are readable, the retry succeeds); every CORS-table
    symptom the run shows is named."""
    symptoms = browser_symptoms(result)
    completed = flow_completed(result)
    if completed and not symptoms:
        return None
    steps = f"page {result.page_origin} → {result.target}; steps: {result.summary()}"
    simple = result.step(STEP_SIMPLE)
    if simple is not None and simple.threw:
        acao = next((n.allow_origin for n in result.network_for(STEP_SIMPLE)), None)
        got = f"Access-Control-Allow-Origin {acao!r}" if acao else "no Access-Control-Allow-Origin"
        return Failure(
            "CORS-04",
            "no response is readable cross-origin: every request from a page is a CORS error",
            f"even a GET without custom headers was blocked ({got}){_console_about(result)}; "
            + steps,
        )
    if not symptoms:
        first = result.step(STEP_FIRST)
        blocked = first is not None and first.threw
        title = (
            "the authenticated request is blocked in the browser"
            if blocked
            else "the DPoP flow does not complete in the browser"
        )
        return Failure("CORS-04", title, steps + _console_about(result))
    named = "; ".join(f.symptom.name for f in symptoms)
    details = "; ".join(f"{f.symptom.missing}: {f.evidence}" for f in symptoms)
    outcome = "the flow completed anyway" if completed else "the flow did not complete"
    return Failure(
        "CORS-04",
        f"browser client broken by CORS: {named}",
        f"{details}. {outcome.capitalize()}; {steps}",
    )
