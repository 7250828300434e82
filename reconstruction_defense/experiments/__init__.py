"""The experiments: one module per result of the paper (and per notebook beyond it), each a thin
layer that calls the library with a profile's settings and returns tidy tables.

- :mod:`.pixel_depth`: Figure 3 (notebook 01)
- :mod:`.restoration`: Figure 5 (notebook 02)
- :mod:`.strength`: Figures 6-8 (notebook 03)
- :mod:`.transfer`: Tables 1-3 (notebook 04, and the main command)
- :mod:`.comparison`: Table 4 (notebook 05)
- :mod:`.adaptive_verdict`: attacks that know the defense (notebooks 06 and 07)
- :mod:`.explorer`: the interactive explorer's one step

May import every layer below (training, evaluation, reporting, attacks, method, config, data);
only the commands (:mod:`..cli`) import it.
"""
