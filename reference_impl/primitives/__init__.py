"""ATProto repository primitives for the reference services.

``keys`` (signing keys, did:key), ``dagcbor`` (encoding, CIDs, JSON form), ``tid`` (revs),
``car`` (CAR v1), ``mst`` (proof and range queries over atmst), ``commit`` (the signed commit)
and ``repo`` (writes, exports, proofs, imports). Pure functions over a block store; no I/O.
"""
