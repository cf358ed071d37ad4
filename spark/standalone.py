#!/usr/bin/env python3
"""A standalone Spark cluster on this machine, and the screening job submitted to it.

    python3 spark/standalone.py EXPORT_DIR --out OUT --as-of 2026-01-01 [--cobalt PATH] [--workers 2]

starts a master and WORKERS workers of one core each (the `pyspark` package's own
`bin/spark-class org.apache.spark.deploy.master.Master` and `...deploy.worker.Worker`), all bound
to 127.0.0.1 (`SPARK_LOCAL_IP`, `--host`) with their web UIs on loopback, submits
`spark/screen_job.py` with `bin/spark-submit --master spark://127.0.0.1:PORT`, and stops the
cluster whatever happens. OUT stands for storage every worker sees (here a local path). The
same steps on real machines: start the master on one, a worker on each, and submit with the
master's URL, shipping the binary with `--files`.
"""

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def spark_home():
    import pyspark

    return os.path.dirname(pyspark.__file__)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


@contextlib.contextmanager
def cluster(workers=2, log_dir=None):
    """Yields the master URL of a running standalone cluster; stops it on exit."""
    home = spark_home()
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", SPARK_MASTER_HOST="127.0.0.1",
               SPARK_HOME=home, PYSPARK_PYTHON=sys.executable)
    log_dir = log_dir or os.path.join("/tmp", f"cobalt-spark-cluster-{os.getpid()}")
    os.makedirs(log_dir, exist_ok=True)
    port = free_port()
    procs = []

    def start(name, args):
        log = open(os.path.join(log_dir, f"{name}.log"), "w")
        procs.append(subprocess.Popen([os.path.join(home, "bin", "spark-class")] + args,
                                      env=env, stdout=log, stderr=subprocess.STDOUT))

    try:
        start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                         "--port", str(port), "--webui-port", str(free_port())])
        wait_for(port)
        for i in range(workers):
            start(f"worker-{i}", ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                  "--cores", "1", "--memory", "2g", "--webui-port", str(free_port()),
                                  "--work-dir", os.path.join(log_dir, f"work-{i}"), f"spark://127.0.0.1:{port}"])
        time.sleep(3)  # workers register with the master
        yield f"spark://127.0.0.1:{port}", env
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def submit(master, env, job_args):
    """Runs the job with spark-submit against the cluster; returns the exit code."""
    home = env["SPARK_HOME"]
    cmd = [os.path.join(home, "bin", "spark-submit"), "--master", master,
           "--conf", "spark.ui.enabled=false", "--conf", "spark.log.level=ERROR",
           os.path.join(HERE, "screen_job.py")] + job_args
    return subprocess.run(cmd, env=env).returncode


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export")
    ap.add_argument("--out", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--cobalt", default=os.path.join(HERE, "..", "target", "release", "cobalt"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--format", default="parquet")
    a = ap.parse_args(argv)
    cobalt = os.path.abspath(a.cobalt)
    with cluster(a.workers) as (master, env):
        return submit(master, env, [a.export, "--out", os.path.abspath(a.out), "--as-of", a.as_of,
                                    "--cobalt", cobalt, "--format", a.format])


if __name__ == "__main__":
    sys.exit(main())
