"""Writes the seed ZIPs of the `zip` fuzz target into the folder given as argument."""
import io
import sys
import wave
import zipfile
from pathlib import Path


def wav(frames=1600):
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x01\x00" * frames)
    return out.getvalue()


def write(path, entries, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in entries:
            z.writestr(name, data)


def main(folder):
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    write(d / "plain.zip", [("Actor_01/03-01-05-01-01-01-01.wav", wav()),
                            ("Actor_02/03-01-04-01-01-01-02.wav", wav()), ("notes.txt", b"hi")])
    write(d / "folders.zip", [("angry/a.wav", wav()), ("sad/b.wav", wav()), (".hidden/c.wav", wav())])
    write(d / "traversal.zip", [("../evil.wav", wav()), ("ok/x.wav", wav())])
    write(d / "bomb.zip", [("happy/big.wav", b"\0" * (4 << 20))])
    write(d / "dupe.zip", [("a/x.wav", wav()), ("a/x.wav", wav())])
    write(d / "stored.zip", [("calm/x.wav", wav())], zipfile.ZIP_STORED)
    link = zipfile.ZipInfo("sad/link.wav")
    link.create_system = 3  # Unix, so the mode bits below mean a symlink
    link.external_attr = 0o120777 << 16
    with zipfile.ZipFile(d / "symlink.zip", "w") as z:
        z.writestr(link, "/etc/passwd")
        z.writestr("sad/y.wav", wav())


if __name__ == "__main__":
    main(sys.argv[1])
