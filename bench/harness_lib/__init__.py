"""The benchmark harness of bench/run, split by concern; bench/harness.py is its entry point.

config holds every environment knob and constant (and creates the scratch directory WORK);
procs and ports start, stop, measure and probe processes on loopback; contenders and
sluice_tunnel bring up what is measured; loads runs the load generators; scenario_* run the
scenarios; profiles and criterion add perf profiles and microbenchmarks; meta, report and
report_cells turn the results into bench/results.json and bench/RESULTS.md. Nothing is imported
here, so importing the package has no side effect until a module is imported.
"""
