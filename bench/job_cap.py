"""Wall time of 2 identical digits runs through vae.jobs under each job cap and torch thread count.

Run: python bench/job_cap.py   (prints figures; not a test). Picks the defaults VAE_MAX_JOBS=1, --threads 1.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vae.config import DataConfig, ModelConfig, TrainConfig
from vae.jobs import JobManager
from vae.run import log_path_for, read_log

EPOCHS = 80

for cap, threads in [(1, 1), (2, 1), (1, 2), (2, 2)]:
    mgr = JobManager(tempfile.mkdtemp(), max_jobs=cap)
    t0 = time.perf_counter()
    ids = [mgr.submit(ModelConfig(), TrainConfig(epochs=EPOCHS, threads=threads), DataConfig(), f"r{i}").id
           for i in range(2)]
    while any(mgr.status(i).active for i in ids):
        time.sleep(0.2)
    ips = [next(r for r in read_log(log_path_for(mgr.status(i).checkpoint)) if r["event"] == "end")["images_per_sec"]
           for i in ids]
    print(f"cap={cap} threads={threads}: {time.perf_counter() - t0:5.1f} s wall for 2 runs of {EPOCHS} epochs; "
          f"training images/s per run: {', '.join(f'{v:,.0f}' for v in ips)}", flush=True)
    mgr.close()
