"""The gateway's keys and the signatures made with them.

:mod:`~gateway.keys.keyring` holds the master key and the pool data keys it wraps (AES-GCM encryption
of level 3+ loan fields and snapshot secrets); :mod:`~gateway.keys.gateway_key` the gateway's Ed25519
signing key for snapshot headers; :mod:`~gateway.keys.tape_signatures` the platforms' signatures over
tape submissions; :mod:`~gateway.keys.rotation` the rotation of both keys and the published gateway-key
history; :mod:`~gateway.keys.backup` backup and restore; :mod:`~gateway.keys.key_files` the crash-safe
writing of key files they share; :mod:`~gateway.keys.unavailable` the 503 answer when key material is
unavailable.
"""
