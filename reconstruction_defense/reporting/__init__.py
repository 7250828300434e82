"""Reporting: figures and their style, the paper's published numbers (:mod:`.paper`), the
README's and docs' rendered sections (:mod:`.sections`), the JSON export and the checker of
hand-written result prose (:mod:`.prose`).

May import :mod:`..attacks` (display names), :mod:`..data` and :mod:`..config`; never
:mod:`..training` or :mod:`..evaluation`, its siblings."""
