"""Command line: parse, call the library, print. No logic of its own.

    gifloop convert INPUT OUTPUT.gif [--start/--end/--duration] [--crop X,Y,W,H] [--width/--height/--scale]
                    [--fps] [--speed] [--colors] [--dither] [--palette] [--lossy] [--max-size] [--loop] ...
    gifloop info INPUT [--json]
    gifloop loops INPUT [--max-duration S] [--top N] [--out DIR] [--json F]
    gifloop demo [FOLDER]

Errors are one line on stderr (``gifloop: error: ...``), exit code 2 for bad input or usage and 1 for
failures during the work; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Optional

import click

from . import api
from .encode.atomic import check_output_path
from .encode.video import format_for
from .errors import GifloopError, InvalidParameterError
from .quantize.remap import DITHER_METHODS
from .quantize.strategy import PALETTE_STRATEGIES
from .timecode import format_time

_DEBUG_FLAG = "--debug"


def _crop(value: Optional[str]):
    if value is None:
        return None
    parts = value.replace(" ", "").split(",")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4:
        raise InvalidParameterError(f"--crop {value!r} is not X,Y,WIDTH,HEIGHT; e.g. --crop 0,0,1800,1392")
    return numbers


def _region_at(value: str, option: str):
    """``X,Y,W,H[@T]`` -> ((x, y, w, h), t)."""
    rect, _, t = value.partition("@")
    parts = rect.replace(" ", "").split(",")
    try:
        numbers = tuple(int(p) for p in parts)
    except ValueError:
        numbers = ()
    if len(numbers) != 4:
        raise InvalidParameterError(f"{option} {value!r} is not X,Y,WIDTH,HEIGHT[@TIME]; e.g. {option} 0,0,320,200@1.5")
    return numbers, t or 0


def _position(value: str):
    if "," in value:
        try:
            x, y = (float(v) for v in value.split(","))
            return (x, y)
        except ValueError:
            raise InvalidParameterError(f"--text-pos {value!r} is not a name or X,Y; e.g. --text-pos 20,30") from None
    return value


_GIF_ONLY = ("colors", "dither", "dither_strength", "palette", "lossy", "max_size")


def _refuse_gif_options(ctx: click.Context, output: str) -> None:
    """GIF encoder options given for another format are an error, not silently ignored."""
    given = [name for name in _GIF_ONLY
             if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise InvalidParameterError(f"{flags} only apply to .gif output, not {os.path.basename(output)!r}; "
                                    f"use --quality/--lossless for WebP and MP4")


class _Progress:
    """A tqdm bar per stage on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.stage = None

    def __call__(self, stage: str, done: int, total: Optional[int]) -> None:
        if not self.enabled:
            return
        if stage != self.stage:
            self.close()
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"{stage:>6}", unit="frame", leave=False, file=sys.stderr,
                            dynamic_ncols=True)
            self.stage = stage
        if total is not None and self.bar.total != total:
            self.bar.total = max(total, done)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _Commands(click.Group):
    """The command group; ``loops`` is imported only when asked for (``convert`` does not need the
    loop finder's modules)."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | {"loops"})

    def get_command(self, ctx, name):
        if name == "loops":
            from .loops.command import loops_command

            return loops_command
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gifloop")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Turn videos into fast, small, good-looking animated GIFs."""


@cli.command()
@click.argument("input")  # checked by the library, which says what is wrong in its own words
@click.argument("output")
@click.option("--start", "-s", help="Start time: seconds, MM:SS.ff or HH:MM:SS.")
@click.option("--end", "-e", help="End time (negative counts from the end).")
@click.option("--duration", "-d", "duration_", help="Length instead of --end.")
@click.option("--crop", help="X,Y,WIDTH,HEIGHT in displayed pixels, before resizing.")
@click.option("--width", "-w", type=int, help="Output width (alone: keeps the aspect ratio).")
@click.option("--height", "-H", type=int, help="Output height (alone: keeps the aspect ratio).")
@click.option("--scale", type=float, help="Scale factor instead of width/height, e.g. 0.5.")
@click.option("--fps", "-r", type=float, help="Frames per second (default: the source's, at most 50).")
@click.option("--speed", type=float, help="Playback speed factor, e.g. 2 or 0.5.")
@click.option("--colors", "-c", type=int, default=256, show_default=True, help="Palette size, 2-256.")
@click.option("--dither", type=click.Choice(DITHER_METHODS),
              help="bayer (default) / blue-noise: ordered, still areas stay still; floyd-steinberg "
                   "(default with --max-size) / sierra: error diffusion, smoother, only moving areas re-dithered; none.")
@click.option("--dither-strength", type=float, default=1.0, show_default=True, help="0 (none) to 2.")
@click.option("--palette", "palette", type=click.Choice(PALETTE_STRATEGIES), default="global", show_default=True,
              help="One palette, one per scene, or one per frame.")
@click.option("--lossy", type=click.IntRange(0, 200), default=0, show_default=True,
              help="Lossy LZW: 0 = exact; 20-80 trade barely visible noise for smaller files.")
@click.option("--max-size", metavar="SIZE", help="Fit the GIF in SIZE (e.g. 2MB, 800kB): the best settings that fit.")
@click.option("--loop", type=int, default=0, show_default=True, help="0 = loop forever, N = play N times.")
@click.option("--freeze", "freeze", metavar="X,Y,W,H[@T]", help="Keep this rectangle still (as at T s).")
@click.option("--freeze-outside", metavar="X,Y,W,H[@T]", help="Keep everything but this rectangle still.")
@click.option("--freeze-mask", metavar="FILE[@T]", help="Grey-level image: white parts stay still.")
@click.option("--bw", "black_white", is_flag=True, help="Black and white.")
@click.option("--gamma", type=float, help="Gamma correction (above 1 brightens mid-tones).")
@click.option("--brightness", type=float, help="Add brightness, -1 to 1.")
@click.option("--contrast", type=float, help="Contrast factor (1 = unchanged).")
@click.option("--text", help="Text to write on the frames (\\n for a new line).")
@click.option("--text-pos", default="bottom", show_default=True,
              help="bottom, top, center, top-left, ... or X,Y of the text's corner.")
@click.option("--font", type=str, help="A .ttf/.otf font file (default: Pillow's bundled font).")
@click.option("--font-size", type=int, default=32, show_default=True, help="Text size in output pixels.")
@click.option("--text-color", default="white", show_default=True, help="Text colour (name or #rrggbb).")
@click.option("--remove-background", is_flag=True, help="Make a still camera's background transparent.")
@click.option("--bg-threshold", type=float, default=30.0, show_default=True,
              help="Colour difference (0-255) from the background that counts as subject.")
@click.option("--reverse", is_flag=True, help="Play backwards.")
@click.option("--boomerang", is_flag=True, help="Play forwards then backwards.")
@click.option("--crossfade", type=float, metavar="S", help="Crossfade the end into the start: a seamless loop.")
@click.option("--fade-in", type=float, metavar="S", help="Fade in from black over S seconds.")
@click.option("--fade-out", type=float, metavar="S", help="Fade out to black over S seconds.")
@click.option("--quality", type=click.IntRange(0, 100), default=80, show_default=True,
              help="WebP and MP4 quality, 0-100.")
@click.option("--lossless", is_flag=True, help="Lossless WebP.")
@click.option("--overwrite", "-y", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def convert(input, output, start, end, duration_, crop, width, height, scale, fps, speed, colors, dither,
            dither_strength, palette, lossy, max_size, loop, freeze,
            freeze_outside, freeze_mask, black_white, gamma, brightness, contrast, text, text_pos,
            font, font_size, text_color, remove_background, bg_threshold, reverse, boomerang, crossfade,
            fade_in, fade_out, quality, lossless, overwrite, quiet):
    """Convert INPUT (any video FFmpeg decodes) to OUTPUT: .gif, or .webp, .png/.apng, .mp4.

    Geometry and time options apply first, then freezing, colour and text, then reverse, boomerang,
    crossfade and fades.
    """
    is_gif = str(output).lower().endswith(".gif")
    if not is_gif and format_for(output) is None:
        raise InvalidParameterError(
            f"output {output!r} must end in .gif, .webp, .png/.apng or .mp4; e.g. {os.path.splitext(output)[0]}.gif")
    if not is_gif:
        _refuse_gif_options(click.get_current_context(), output)
    check_output_path(output, overwrite, (input,))
    clip = api.prepare(input, start=start, end=end, duration=duration_, crop=_crop(crop), width=width,
                       height=height, scale=scale, fps=fps, speed=speed)
    if freeze:
        rect, t = _region_at(freeze, "--freeze")
        clip = clip.freeze_region(rect, t=t)
    if freeze_outside:
        rect, t = _region_at(freeze_outside, "--freeze-outside")
        clip = clip.freeze_region(outside=rect, t=t)
    if freeze_mask:
        path, _, t = freeze_mask.partition("@")
        clip = clip.freeze_region(mask=path, t=t or 0)
    if remove_background:
        clip = clip.remove_background(bg_threshold)
    if black_white:
        clip = clip.black_white()
    if gamma is not None:
        clip = clip.gamma(gamma)
    if brightness is not None or contrast is not None:
        clip = clip.brightness_contrast(brightness or 0.0, 1.0 if contrast is None else contrast)
    if text:
        clip = clip.text(text.replace("\\n", "\n"), _position(text_pos), size=font_size, color=text_color,
                         font=font)
    if reverse:
        clip = clip.reverse()
    if boomerang:
        clip = clip.boomerang()
    if crossfade:
        clip = clip.make_loopable(crossfade)
    if fade_in:
        clip = clip.fade_in(fade_in)
    if fade_out:
        clip = clip.fade_out(fade_out)
    progress = _Progress(enabled=not quiet and sys.stderr.isatty())
    try:
        if is_gif:
            gif = clip.write_gif(output, colors=colors, dither=dither, dither_strength=dither_strength,
                                 palette=palette, lossy=lossy, max_size=max_size, loop=loop,
                                 overwrite=overwrite, progress=progress)
        else:
            gif = clip.write(output, loop=loop, quality=quality, lossless=lossless, overwrite=overwrite,
                             progress=progress)
    finally:
        progress.close()
    if not quiet:
        click.echo(f"wrote {gif.path}: {gif.size[0]}x{gif.size[1]}, {gif.frames} frames, "
                   f"{format_time(gif.duration)}, {_megabytes(gif.bytes)}")
        if max_size and gif.settings is not None:
            click.echo(f"to fit {max_size}: {gif.settings.describe()}")


@cli.command()
@click.argument("input")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(input, as_json):
    """Describe the video stream of INPUT."""
    facts = api.probe(input).describe()
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    w, h = facts["display_size"]
    cw, ch = facts["coded_size"]
    duration = "unknown" if facts["duration"] is None else f"{facts['duration']:.3f} s ({format_time(facts['duration'])})"
    rows = [
        ("file", facts["path"]),
        ("container", facts["container"]),
        ("codec", f"{facts['codec']} ({facts['pixel_format']})"),
        ("size", f"{w}x{h} displayed, {cw}x{ch} coded"),
        ("rotation", f"{facts['rotation']}°"),
        ("pixel aspect", facts["pixel_aspect"]),
        ("fps", f"{facts['fps']:g}" + (" (variable)" if facts["variable_fps"] else "")),
        ("duration", duration),
        ("frames", "unknown" if facts["frame_count"] is None else str(facts["frame_count"])),
        ("alpha", "yes" if facts["alpha"] else "no"),
    ]
    for key, value in rows:
        click.echo(f"{key:>13}: {value}")


@cli.command()
@click.argument("folder", default="demo", type=click.Path(file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def demo(folder, quiet):
    """Make a sample video in FOLDER and convert it (crop the upper half, 360 px wide, 12 fps)."""
    from .samples import make_sample

    os.makedirs(folder, exist_ok=True)
    source = make_sample(os.path.join(folder, "sample.mp4"))
    click.echo(f"made {source}: 720x1280, 4 s, 30 fps (FFmpeg test patterns)")
    progress = _Progress(enabled=not quiet and sys.stderr.isatty())
    try:
        gif = (api.open(source).crop(0, 0, 720, 640).resize(width=360).with_fps(12)
               .write_gif(os.path.join(folder, "sample.gif"), overwrite=True, progress=progress))
    finally:
        progress.close()
    click.echo(f"wrote {gif.path}: {gif.size[0]}x{gif.size[1]}, {gif.frames} frames, "
               f"{format_time(gif.duration)}, {_megabytes(gif.bytes)}")




def _megabytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = _DEBUG_FLAG in args or os.environ.get("GIFLOOP_DEBUG") == "1"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = _run(args, debug)
        finally:
            for warning in caught:
                if issubclass(warning.category, (UserWarning, RuntimeWarning)):
                    click.echo(f"gifloop: warning: {warning.message}", err=True)
    return code


def _run(args: list[str], debug: bool) -> int:
    try:
        # --debug is accepted anywhere on the line, not only before the command.
        args = [a for a in args if a != _DEBUG_FLAG]
        cli.main(args=args, prog_name="gifloop", standalone_mode=False)
        return 0
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        click.echo("gifloop: interrupted; nothing was written", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:  # `gifloop` alone (or a group alone): the help
        click.echo(exc.ctx.get_help(), err=True)
        return 2
    except click.ClickException as exc:
        if debug:
            raise
        hint = f"; see 'gifloop {exc.ctx.command.name} --help'" if getattr(exc, "ctx", None) and exc.ctx.command else ""
        click.echo(f"gifloop: error: {exc.format_message().rstrip('.')}{hint}", err=True)
        return 2
    except GifloopError as exc:
        if debug:
            raise
        click.echo(f"gifloop: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("gifloop: interrupted; nothing was written", err=True)
        return 130
    except Exception as exc:  # a bug: say so in one line unless debugging
        if debug:
            raise
        click.echo(f"gifloop: error: unexpected {type(exc).__name__}: {exc}; rerun with --debug and report it",
                   err=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
