"""Pure checks the suites apply to what a cluster reports: workload log parsers (logs), the accuracy
"rising" rule (accuracy), the Azure VM-size table (vmsizes), doc-drift rules (drift) and the
article's facts (article). No cluster, no I/O."""
