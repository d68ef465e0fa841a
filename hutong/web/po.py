"""Keep the message catalogues in step with the console: ``python -m hutong.web.po`` adds every new
message id (empty, for a translator) and lists ids no longer used. Translations live in
``locales/<locale>/LC_MESSAGES/console.po`` (standard gettext files any translation tool opens)."""

from __future__ import annotations

import sys

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from hutong.web.i18n import LOCALES
from hutong.web.messages import message_ids


def sync(locale: str, extra: dict[str, str] | None = None) -> tuple[int, list[str]]:
    path = LOCALES / locale / "LC_MESSAGES" / "console.po"
    if path.exists():
        with path.open("rb") as f:
            catalogue = read_po(f, locale=locale)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalogue = Catalog(locale=locale, project="hutong console", charset="utf-8")
    ids = message_ids()
    added = 0
    for text, where in sorted(ids.items()):
        message = catalogue.get(text)
        if message is None:
            catalogue.add(text, (extra or {}).get(text, ""), locations=[(w, 0) for w in sorted(set(where))])
            added += 1
        elif not message.string and extra and text in extra:
            message.string = extra[text]
    stale = [m.id for m in catalogue if m.id and m.id not in ids]
    with path.open("wb") as f:
        write_po(f, catalogue, omit_header=False, sort_output=True, include_lineno=False)
    return added, stale


if __name__ == "__main__":
    for loc in sys.argv[1:] or ["zh_CN"]:
        n, stale = sync(loc)
        print(f"{loc}: {n} new message id(s); no longer used: {stale or 'none'}")
