"""Consistent surrogates for detected PHI, and per-patient date shifting that keeps intervals.

Every surrogate is a keyed hash (HMAC-SHA256) of ``(patient, type, normalised original)``: the same name
in two notes of one patient gets the same surrogate, the same name in another patient's notes (almost
surely) a different one, and without the key nobody can map a surrogate back. Dates of a patient all move
by the same number of days (``shift_days``), so intervals between them are unchanged; two-digit years,
ages over 89 ("90+") and numbers follow the Safe Harbor rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from medkit.privacy.lexicon import Lexicon

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTH_FULL = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December"]
_REF_YEAR = 2001  # year assumed for dates written without one (non-leap, so Feb 29 cannot appear)


def _match_case(template: str, word: str) -> str:
    if template.isupper():
        return word.upper()
    if template.islower():
        return word.lower()
    return word.title()


class SurrogateGenerator:
    """Map PHI strings to surrogates, consistently per patient.

    Parameters
    ----------
    key
        Secret bytes for the keyed hash; a fresh random key by default, so surrogates of one run cannot be
        linked to another run's. Pass the same key to keep surrogates stable across runs.
    lexicon
        Pools of surrogate names and places.
    shift_range
        Inclusive range of the per-patient forward date shift in days (the deid corpus uses 1000-3000).
    shifts
        Optional explicit ``{patient: days}`` (e.g. the corpus ``shift.txt``).
    """

    def __init__(self, key: bytes | None = None, lexicon: Lexicon | None = None,
                 shift_range: tuple[int, int] = (1000, 3000), shifts: dict[str, int] | None = None) -> None:
        self.key = key if key is not None else secrets.token_bytes(32)
        self.lexicon = lexicon or Lexicon()
        self.shift_range = shift_range
        self.shifts = dict(shifts or {})

    def _h(self, *parts: str) -> int:
        msg = "\x1f".join(parts).encode("utf-8")
        return int.from_bytes(hmac.new(self.key, msg, hashlib.sha256).digest()[:8], "big")

    def shift_days(self, patient: str) -> int:
        """Days every date of ``patient`` moves forward."""
        if patient in self.shifts:
            return int(self.shifts[patient])
        lo, hi = self.shift_range
        return lo + self._h("shift", patient) % (hi - lo + 1)

    # ------------------------------------------------------------------ dispatch
    def surrogate(self, text: str, phi_type: str, patient: str) -> str:
        """The surrogate for ``text`` of type ``phi_type`` in ``patient``'s notes (never the original)."""
        try:
            return self._surrogate(text, phi_type, patient)
        except (ValueError, OverflowError):  # e.g. a date that cannot be shifted: a placeholder is safe
            return f"[{phi_type.upper()}]"

    def _surrogate(self, text: str, phi_type: str, patient: str) -> str:
        norm = re.sub(r"\s+", " ", text.strip().lower())
        if phi_type in {"HCPName", "PTName", "RelativeProxyName"}:
            return self._name(text, norm, phi_type, patient)
        if phi_type == "PTNameInitial":
            return chr(ord("A") + self._h(patient, phi_type, norm) % 26) + text[1:] if text else text
        if phi_type == "Location":
            pool = self.lexicon.places
            return _match_case(text, pool[self._h(patient, phi_type, norm) % len(pool)])
        if phi_type == "Date":
            return self.shift_date(text, patient)
        if phi_type == "DateYear":
            return self.shift_year(text, patient)
        if phi_type == "Age":
            return "90+"
        if phi_type in {"Email", "URL"}:
            return f"{phi_type.lower()}-{self._h(patient, phi_type, norm) % 10**6:06d}@example.org" \
                if phi_type == "Email" else f"https://example.org/{self._h(patient, phi_type, norm) % 10**6:06d}"
        return self._scramble(text, phi_type, patient, norm)

    def _name(self, text: str, norm: str, phi_type: str, patient: str) -> str:
        words = text.split()
        out = []
        for i, w in enumerate(words):
            pool = self.lexicon.first_names if (phi_type == "RelativeProxyName" and i == 0) or \
                (len(words) > 1 and i == 0) else self.lexicon.last_names
            core = w.strip(".,")
            if len(core) <= 1:  # an initial stays an initial
                out.append(w.replace(core, chr(ord("A") + self._h(patient, "init", core.lower()) % 26)) if core else w)
                continue
            pick = pool[self._h(patient, "name", core.lower()) % len(pool)]
            out.append(w.replace(core, _match_case(core, pick)))
        return " ".join(out)

    def _scramble(self, text: str, phi_type: str, patient: str, norm: str) -> str:
        """Keep the shape (punctuation, length), replace every digit/letter with a keyed random one."""
        h = hashlib.sha256(self.key + f"{patient}\x1f{phi_type}\x1f{norm}".encode()).digest() * 4
        out = []
        for i, c in enumerate(text):
            b = h[i % len(h)]
            if c.isdigit():
                out.append(str(b % 10))
            elif c.isalpha():
                out.append(_match_case(c, chr(ord("a") + b % 26)) if c.isalpha() else c)
            else:
                out.append(c)
        return "".join(out)

    # --------------------------------------------------------------------- dates
    def shift_year(self, text: str, patient: str) -> str:
        digits = re.sub(r"\D", "", text)
        if len(digits) not in (2, 4):  # not a year after all (e.g. "35-46/30"): keep only its shape
            return self._scramble(text, "DateYear", patient, text.lower())
        y = int(digits)
        full = y if len(digits) == 4 else (1900 + y if y > 30 else 2000 + y)
        new = (dt.date(full, 7, 1) + dt.timedelta(days=self.shift_days(patient))).year
        rep = str(new) if len(digits) == 4 else f"{new % 100:02d}"
        return text.replace(digits, rep, 1)

    def shift_date(self, text: str, patient: str) -> str:
        """Shift a date written as m/d, m/d/yy(yy), m-d-yy, yyyy-mm-dd, 'Month d[, yyyy]' or 'd Month yyyy'."""
        days = dt.timedelta(days=self.shift_days(patient))
        s = text.strip()
        m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", s)
        if m:
            d = _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            return text.replace(s, (d + days).isoformat()) if d else "[DATE]"
        m = re.fullmatch(r"(\d{1,2})([/-])(\d{1,2})(?:\2(\d{2,4}))?", s)
        if m:
            yr_txt = m.group(4)
            year = _REF_YEAR if yr_txt is None else (int(yr_txt) if len(yr_txt) == 4 else
                                                     (1900 + int(yr_txt) if int(yr_txt) > 30 else 2000 + int(yr_txt)))
            d = _safe_date(year, int(m.group(1)), int(m.group(3)))
            if d is None:
                return "[DATE]"
            n = d + days
            sep = m.group(2)
            mm = f"{n.month:02d}" if len(m.group(1)) == 2 else str(n.month)
            dd = f"{n.day:02d}" if len(m.group(3)) == 2 else str(n.day)
            out = f"{mm}{sep}{dd}"
            if yr_txt is not None:
                out += sep + (str(n.year) if len(yr_txt) == 4 else f"{n.year % 100:02d}")
            return text.replace(s, out)
        m = re.fullmatch(r"([A-Za-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?(?:,? (\d{4}))?", s)
        m2 = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)? (?:of )?([A-Za-z]+)\.?,? (\d{4})", s)
        if m is not None or m2 is not None:
            mon, day, year_s = ((m.group(1), m.group(2), m.group(3)) if m is not None else
                                (m2.group(2), m2.group(1), m2.group(3)))  # type: ignore[union-attr]
            if mon[:3].lower() in _MONTHS:
                d = _safe_date(int(year_s) if year_s else _REF_YEAR, _MONTHS.index(mon[:3].lower()) + 1, int(day))
                if d is not None:
                    n = d + days
                    out = f"{_match_case(mon, _MONTH_FULL[n.month - 1])} {n.day}"
                    return out + (f", {n.year}" if year_s else "")
        return "[DATE]"


def _safe_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None
