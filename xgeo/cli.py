"""The ``xgeo`` command line.

Errors users can fix (wrong path, bad CRS, undecodable file) print one line and
exit with status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .errors import XgeoError

__all__ = ["main"]


class _FriendlyErrors(click.Group):
    """A click group that turns expected failures into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (XgeoError, FileNotFoundError, PermissionError, ImportError) as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"xgeo: error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_FriendlyErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="xgeo")
def main(debug: bool) -> None:
    """xgeo: satellite datacubes cheap to store and fast to learn from."""
    if not debug:
        import warnings

        # One line per warning: the source line of the library is noise to a CLI user.
        warnings.formatwarning = lambda message, category, *args, **kwargs: (
            f"xgeo: warning: {message}\n"
        )


@main.command()
@click.argument("path", type=click.Path(exists=False, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(path: str, as_json: bool) -> None:
    """Describe the datacube at PATH (netCDF, Zarr or GeoTIFF): grid, CRS, bands, time, storage."""
    from .info import format_summary, summarize

    summary = summarize(path)
    if as_json:
        import json

        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        click.echo(format_summary(summary))


@main.command()
def demo() -> None:
    """Run the main job on the bundled real Sentinel-2 cube and print what it found."""
    from . import datasets
    from .info import format_summary, summarize

    path = datasets.sentinel2_cube_path()
    click.echo("xgeo demo: bundled Sentinel-2 L1C cube (eo-learn, MIT)\n")
    click.echo(format_summary(summarize(path)))
    grid = datasets.sentinel2_cube().geo.grid
    click.echo(f"\ngrid:        {grid!r}")
    tiles = list(grid.tiles(64))
    click.echo(f"64x64 tiles: {len(tiles)} windows covering {grid.shape}")


if __name__ == "__main__":  # pragma: no cover
    main()
