"""Static multi-account dashboard: one page, a tab per account, English / 中文, charts.

``data`` collects each account read-only, ``render`` writes one self-contained HTML file,
``serve`` serves it on loopback, ``cli`` wires ``stockbot dashboard render|serve``.
"""
