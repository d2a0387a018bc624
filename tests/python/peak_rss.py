"""Runs a command to its end and prints, as JSON, its exit status, the peak resident memory of it
and its children (getrusage's ru_maxrss, in KiB) and the end of its standard error:

    peak_rss.py CMD ARGS...
"""
import json
import resource
import subprocess
import sys

done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({
    "status": done.returncode,
    "peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "stderr": done.stderr[-4000:],
}))
