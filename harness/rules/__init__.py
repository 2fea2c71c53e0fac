"""SLO alert rules: multiwindow, multi-burn-rate recording and alerting rules generated from SLOs,
their `promtool test rules` unit tests, and the promtool runs that check both."""
