"""Operations: SLOs, the prober, burn-rate alerts, incidents and their grades, drills, and
the weekly report (README.md)."""
