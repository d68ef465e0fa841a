"""``hutong cluster up|down``: PostgreSQL, Redis, Milvus, API processes and workers on loopback, to try the
several-machine layout of docs/deploy.md on one machine."""

from __future__ import annotations

import signal
import threading

import typer

from hutong.cli.app import JsonOpt, app, emit_json, err, out

cluster_app = typer.Typer(help="A trial cluster on loopback (see docs/deploy.md).", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("up")
def up(as_json: JsonOpt = False) -> None:
    """Start PostgreSQL 15, Redis, Milvus, the API processes behind a load balancer and the workers, all on
    loopback and sharing HUTONG_HOME; wait for them to answer; run until Ctrl-C or `hutong cluster down`."""
    from hutong.cluster import Cluster
    from hutong.config import get_settings

    stop = threading.Event()
    # `hutong cluster down` sends SIGTERM: stop as cleanly as on Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cluster = Cluster(get_settings())
    err.print("starting PostgreSQL, Redis, Milvus, API processes and workers…", highlight=False)
    with cluster:
        d = cluster.describe()
        if as_json:
            emit_json(d)
        else:
            out.print(
                f"hutong cluster of {d['home']} — issuer (load balancer): {d['issuer']}", highlight=False
            )
            for p in cluster.parts:
                pid = f"  (pid {p.proc.pid})" if p.proc is not None else ""
                out.print(f"  {p.name:<11} {p.url or '-':<52}{pid}", highlight=False)
            out.print(f"logs in {d['logs']}", highlight=False)
            out.print(
                "commands against this cluster need its settings, e.g.:\n  "
                + " ".join(f"{k}={v}" for k, v in d["env"].items() if k != "HUTONG_HOME")
                + " hutong …",
                highlight=False,
                soft_wrap=True,
            )
            out.print("stop: Ctrl-C here, or `hutong cluster down` from another shell", highlight=False)
        try:
            while not stop.wait(1.0):
                dead = [p.name for p in cluster.parts if p.proc is not None and p.proc.poll() is not None]
                if dead:
                    err.print(f"stopped by itself: {', '.join(dead)} (see its log); stopping the cluster",
                              highlight=False)  # fmt: skip
                    break
        except KeyboardInterrupt:
            pass
        err.print("stopping the cluster…", highlight=False)
    err.print("cluster stopped", highlight=False)


@cluster_app.command("down")
def down(as_json: JsonOpt = False) -> None:
    """Stop the cluster that `hutong cluster up` runs for this HUTONG_HOME."""
    from hutong.cluster import down as stop_cluster
    from hutong.config import get_settings

    pid = stop_cluster(get_settings())
    if as_json:
        emit_json({"stopped": pid is not None, "pid": pid})
    else:
        out.print("cluster stopped" if pid else "no cluster runs for this HUTONG_HOME", highlight=False)
