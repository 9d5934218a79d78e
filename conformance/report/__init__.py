"""The results model, the HTML report and the end-of-run scrub and checksums."""
