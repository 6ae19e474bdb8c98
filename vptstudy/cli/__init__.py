"""The vptstudy command line: the command table (in help order); each command lives in the module of its group.

``app`` (the Typer app, its root options and ``main``'s error handling) is in :mod:`vptstudy.cli.app`.
"""

from vptstudy.cli import bench, demo, fid, report, studies, train, visualize
from vptstudy.cli.app import STATE, app, main

app.command()(report.tasks)
app.command(cls=train.TrainCommand)(train.train)
app.command("pretrain-toy")(demo.pretrain_toy)
app.add_typer(visualize.app, name="visualize", no_args_is_help=True)
app.command("sweep-datasize")(studies.sweep_datasize)
app.command("sweep-oneshot")(studies.sweep_oneshot)
app.command("run")(studies.run_cmd)
app.command()(report.report)
app.command()(fid.fid)
app.command()(bench.bench)
app.command()(report.export)
app.command()(demo.demo)

__all__ = ["STATE", "app", "main"]
