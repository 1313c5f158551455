"""Human units for every CLI output, in one place so `show`, `diff` and `proc` read alike.

KB here is the kernel's kB (1024 bytes), as /proc/meminfo prints it, so a number in `memmond show` can be
compared with `cat /proc/meminfo` by eye. IEC units (KiB, MiB, GiB) give the short form.
"""

from __future__ import annotations

from collections.abc import Sequence

_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def group(number: int) -> str:
    """1234567 -> '1,234,567'."""
    return f"{number:,}"


def kb(n_bytes: int) -> str:
    """Bytes as the kernel's kB with separators: 1264175104 -> '1,234,546 KB'."""
    return f"{group(round(n_bytes / 1024))} KB"


def signed_kb(delta_bytes: int) -> str:
    """A change in bytes as signed kB: 10485760 -> '+10,240 KB', 0 -> '0 KB'."""
    kib = round(delta_bytes / 1024)
    return f"{kib:+,} KB" if kib else "0 KB"


def _scaled(n_bytes: float) -> tuple[str, float, int]:
    """(sign, value, unit index): the largest IEC unit that keeps the value >= 1."""
    sign = "-" if n_bytes < 0 else ""
    value = abs(float(n_bytes))
    unit = 0
    while value >= 1024 and unit < len(_IEC) - 1:
        value /= 1024
        unit += 1
    return sign, value, unit


def iec(n_bytes: float, precision: int = 1) -> str:
    """Bytes in the largest IEC unit that keeps the number >= 1: 10522669875 -> '9.8 GiB'."""
    sign, value, unit = _scaled(n_bytes)
    if unit == 0:
        return f"{sign}{int(value)} B"
    return f"{sign}{value:.{precision}f} {_IEC[unit]}"


def short_iec(n_bytes: float) -> str:
    """Bytes as `free -h` writes them, for tables that must fit 80 columns: '430Mi', '3.0Gi', '0B'
    (one decimal below 10 in the unit, none above)."""
    sign, value, unit = _scaled(n_bytes)
    if unit == 0:
        return f"{sign}{int(value)}B"
    suffix = _IEC[unit].removesuffix("B")
    if value < 10 and round(value, 1) < 10:
        return f"{sign}{value:.1f}{suffix}"
    return f"{sign}{value:.0f}{suffix}"


def signed_short_iec(delta_bytes: float) -> str:
    """A change as `free -h` would write it, with its sign: '+430Mi', '-1.2Gi', '0B'."""
    if delta_bytes == 0:
        return "0B"
    return ("+" if delta_bytes > 0 else "") + short_iec(delta_bytes)


def signed_iec(delta_bytes: float, precision: int = 1) -> str:
    if delta_bytes == 0:
        return "0 B"
    return ("+" if delta_bytes > 0 else "") + iec(delta_bytes, precision)


def percent(ratio: float, precision: int = 1) -> str:
    """0.4523 -> '45.2%'."""
    return f"{ratio * 100:.{precision}f}%"


def signed_percent(ratio: float, precision: int = 1) -> str:
    return f"{ratio * 100:+.{precision}f}%"


def rate(per_second: float, unit: str = "/s") -> str:
    """Per-second rates: small ones keep decimals, large ones get separators."""
    if abs(per_second) >= 100:
        return f"{round(per_second):,}{unit}"
    return f"{per_second:.2f}{unit}"


def duration(seconds: float) -> str:
    """2.5 -> '2.5 s', 90 -> '1m 30s', 300 -> '5m', 7380 -> '2h 3m'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def cut_middle(text: str, width: int) -> str:
    """`text` at most `width` characters, cut in the middle with "…": a container id's start and a unit's
    suffix both tell, so both ends stay."""
    if len(text) <= width:
        return text
    keep = max(width - 1, 2)
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def table(
    rows: Sequence[Sequence[str]],
    header: Sequence[str] | None = None,
    indent: int = 2,
    align: str = "",
) -> str:
    """Columns padded to their widest cell. `align` has one letter per column, l or r; by default the
    first column is left-aligned and the others right-aligned, so numbers line up by their last digit."""
    all_rows = [list(header)] if header else []
    all_rows += [list(row) for row in rows]
    if not all_rows:
        return ""
    width = max(len(row) for row in all_rows)
    for row in all_rows:
        row.extend([""] * (width - len(row)))
    widths = [max(len(row[col]) for row in all_rows) for col in range(width)]
    align = (align or "l").ljust(width, "r")
    pad = " " * indent
    out = []
    for row in all_rows:
        cells = [cell.ljust(w) if a == "l" else cell.rjust(w) for cell, w, a in zip(row, widths, align, strict=False)]
        out.append((pad + "  ".join(cells)).rstrip())
    return "\n".join(out)


SIZE_UNITS = {  # binary units are 1024-based, decimal ones 1000-based
    "": 1, "B": 1,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
    "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
}  # fmt: skip


def parse_bytes(text: str) -> int:
    """'100MiB' -> 104857600, '4KB' -> 4000, '512' -> 512. Binary units are 1024-based, decimal 1000-based."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2) not in SIZE_UNITS:
        raise ValueError(f"expected a size like 100MiB, 4KiB or 1GB, got {text!r}")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2)])
