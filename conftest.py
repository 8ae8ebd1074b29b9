"""Thin on purpose: every option, fixture and report hook lives in the plugin modules of fixtures/."""

pytest_plugins = [
    "fixtures.aks",
    "fixtures.options",
    "fixtures.cluster",
    "fixtures.matrix",
    "fixtures.reporting",
    "fixtures.heap",
]
