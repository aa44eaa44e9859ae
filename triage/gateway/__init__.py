"""The mail gateway's policy and log lines, shared by `triage milter` and `triage filter`."""
