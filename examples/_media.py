"""Where the examples find their videos: ../shared/media beside the repository (or $GIFLOOP_MEDIA)."""

import os
import sys
from pathlib import Path

MEDIA = Path(os.environ.get("GIFLOOP_MEDIA", Path(__file__).resolve().parents[2] / "shared" / "media"))


def media(name: str) -> str:
    path = MEDIA / name
    if not path.exists():
        sys.exit(f"example video {path} not found; set GIFLOOP_MEDIA to the shared media folder")
    return str(path)


def out_dir() -> Path:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "example-gifs")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
