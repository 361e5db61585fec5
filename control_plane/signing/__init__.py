"""URL signing, in one home below every domain: signing key sets, URL tokens, origin signing.

- `key_store`: the URL-signing secrets appliances accept, stored and rotated with a grace.
- `keys`: `SigningKey` (one secret as signers hold it) and which key a set of appliances accepts.
- `content_urls`: signed playback URLs (nginx `secure_link` tokens) for one rendition.
- `origin`: the origin fallback, an S3 presigned GET (`OriginSigner`, `S3OriginSigner`).

Placement (manifest sources), steering and playback sign with it; fleet stores and rotates the
keys through it. It imports `common` and the contracts only (import-linter says so).
"""
