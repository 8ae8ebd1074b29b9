"""ARM provisioning and teardown for the live AKS tier (backend `aks`), its janitor, and a loopback
fake ARM for offline tests and rehearsals.

Modules: settings (options table + validation), plan (names, tags, ARM bodies), clients (SDK clients
and credentials), operations (parallel long-running operations with progress lines), provisioner
(create/adopt + reverse-order teardown), verdicts (ARM errors -> doc-drift/unavailable/fail),
kubeconfig_file (the 0600 credential file), janitor, fakearm.
"""
