"""Deal monitoring on the gateway: the registered deal, published payment reports, and alerts.

* :mod:`.deal_records`: each pool's registered deal file and its signed payment reports, built from
  the pool's sealed snapshots (:mod:`proofs.payment_report`).
* :mod:`.store`: the alerts raised to the trustee and the regulator, and their webhooks.
* :mod:`.webhooks`: HMAC-signed webhook delivery with retries.
* :mod:`.raising`: alerts raised from a payment report's proven trigger statuses, every raise and
  every delivery attempt written to the decision log.
"""
