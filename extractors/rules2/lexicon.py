"""Every keyword rules@2 looks for, in English, Spanish, German and French, in one automaton.

One Aho-Corasick pass over the lower-cased message finds all of them at once: date words, the
phrases that make a sentence a decision, preference or action item, negations and small talk.
A big regular-expression alternation of the same words took about 20 times as long (measured in
the commit that added this module), because Python's ``re`` tries each alternative at each
position. Each hit carries (family, value); callers check word boundaries and context.
"""

from __future__ import annotations

import ahocorasick

# Families of hits.
MONTH = "month"  # value: month number
WEEKDAY = "weekday"  # value: 0 = Monday
DAY_OFFSET = "day"  # value: days from the message's day
WEEK_OFFSET = "week"  # value: weeks from the message's week
MONTH_OFFSET = "month+"  # value: months from the message's month
WEEKEND = "weekend"  # value: weeks from the message's week
DECISION = "decision"
PREFERENCE = "preference"
ACTION = "action"
NEGATION = "negation"
SMALLTALK = "smalltalk"
# A word after which a weekday means the one in the following week ("next Friday").
NEXT = "next"
LAST = "last"

_MONTHS = (
    # English names need a capital (checked by the caller): "may" and "march" are verbs.
    ("January February March April May June July August September October November December"),
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
)
_MONTH_ABBREVIATIONS = "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec"
_WEEKDAYS = (
    "monday tuesday wednesday thursday friday saturday sunday",
    "lunes martes miércoles jueves viernes sábado domingo",
    "montag dienstag mittwoch donnerstag freitag samstag sonntag",
    "lundi mardi mercredi jeudi vendredi samedi dimanche",
)
_DAY_OFFSETS = {
    "today": 0, "tonight": 0, "tomorrow": 1, "day after tomorrow": 2, "yesterday": -1,
    "hoy": 0, "esta noche": 0, "mañana": 1, "pasado mañana": 2, "ayer": -1,
    "heute": 0, "heute abend": 0, "morgen": 1, "übermorgen": 2, "gestern": -1,
    "aujourd'hui": 0, "ce soir": 0, "demain": 1, "après-demain": 2,
}  # fmt: skip
_WEEK_OFFSETS = {
    "this week": 0, "next week": 1, "last week": -1,
    "esta semana": 0, "la próxima semana": 1, "la semana que viene": 1,
    "la semana pasada": -1, "diese woche": 0, "nächste woche": 1, "nächsten woche": 1,
    "letzte woche": -1, "cette semaine": 0, "la semaine prochaine": 1,
    "la semaine dernière": -1,
}  # fmt: skip
_MONTH_OFFSETS = {
    "this month": 0, "next month": 1, "el próximo mes": 1, "el mes que viene": 1,
    "nächsten monat": 1, "nächster monat": 1, "le mois prochain": 1, "ce mois-ci": 0,
}  # fmt: skip
_WEEKENDS = {
    "this weekend": 0, "next weekend": 1, "este fin de semana": 0, "el fin de semana": 0,
    "dieses wochenende": 0, "am wochenende": 0, "ce week-end": 0, "ce weekend": 0,
}  # fmt: skip
_NEXT = "next coming próximo próxima nächsten nächste kommenden prochain prochaine"
_LAST = "last pasado pasada letzten letzte dernier"

_PHRASES: dict[str, tuple[str, ...]] = {
    DECISION: (
        "decided", "decision:", "final decision", "let's go with", "we'll go with",
        "we will go with", "going with", "agreed to", "agreed on", "agreed that", "we chose",
        "we picked", "we'll ship", "we will ship", "we'll use", "we will use", "it is then",
        "decidimos", "hemos decidido", "he decidido", "vamos con", "nos quedamos con",
        "elegimos", "queda decidido", "entschieden", "beschlossen", "wir nehmen",
        "wir gehen mit", "abgemacht", "décidé", "on part sur", "on prend", "on a choisi",
        "nous avons choisi", "c'est décidé",
    ),
    PREFERENCE: (
        "i prefer", "i'd rather", "i would rather", "i like", "i love", "i hate", "i enjoy",
        "i don't like", "i do not like", "i dislike", "i can't stand", "my favourite",
        "my favorite", "i'm a fan of", "i'm not a fan of", "i really like", "i really prefer",
        "prefiero", "me gusta", "me gustan", "me encanta", "odio", "mi favorito", "mi favorita",
        "ich mag", "ich bevorzuge", "ich hätte lieber", "ich liebe", "ich hasse",
        "mag ich", "ist mir lieber", "je préfère", "j'aime", "je n'aime pas", "j'adore",
        "je déteste", "mon préféré", "ma préférée",
    ),
    ACTION: (
        "i'll", "i will", "need to", "remember to", "don't forget", "do not forget", "todo",
        "to-do:", "to do:", "action item", "please", "let's", "should", "must", "have to",
        "has to", "make sure", "tengo que", "tenemos que", "tienes que", "hay que",
        "no olvides", "no te olvides", "recuerda", "acuérdate", "por favor", "voy a",
        "ich muss", "wir müssen", "du musst", "nicht vergessen", "vergiss nicht", "denk daran",
        "denkt daran", "bitte", "ich werde", "je dois", "il faut", "n'oublie pas", "pense à",
        "pensez à", "s'il te plaît", "s'il vous plaît", "je vais", "on doit", "nous devons",
    ),
    NEGATION: (
        "not", "n't", "never", "no", "nicht", "kein", "keine", "pas", "jamais", "nunca",
        "haven't", "hasn't", "don't", "no need", "noch nicht",
    ),
    SMALLTALK: (
        "how are you", "how's it going", "how is it going", "what's up", "how was your",
        "how have you been", "qué tal", "cómo estás", "cómo te va", "wie geht", "wie war",
        "ça va", "comment vas-tu", "comment allez-vous",
    ),
}  # fmt: skip


def _build() -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    entries: dict[str, list[tuple[str, int]]] = {}

    def add(word: str, family: str, value: int = 0) -> None:
        entries.setdefault(word.lower(), []).append((family, value))

    for names in _MONTHS:
        for number, name in enumerate(names.split(), start=1):
            add(name, MONTH, number)
    for abbreviation in _MONTH_ABBREVIATIONS.split():
        add(abbreviation, MONTH, _month_of(abbreviation))
    for names in _WEEKDAYS:
        for number, name in enumerate(names.split()):
            add(name, WEEKDAY, number)
    for table, family in (
        (_DAY_OFFSETS, DAY_OFFSET),
        (_WEEK_OFFSETS, WEEK_OFFSET),
        (_MONTH_OFFSETS, MONTH_OFFSET),
        (_WEEKENDS, WEEKEND),
    ):
        for phrase, value in table.items():
            add(phrase, family, value)
    for word in _NEXT.split():
        add(word, NEXT)
    for word in _LAST.split():
        add(word, LAST)
    for family, phrases in _PHRASES.items():
        for phrase in phrases:
            add(phrase, family)
    for word, values in entries.items():
        automaton.add_word(word, (len(word), tuple(values)))
    automaton.make_automaton()
    return automaton


def _month_of(abbreviation: str) -> int:
    return next(
        number
        for number, name in enumerate(_MONTHS[0].split(), start=1)
        if name.startswith(abbreviation[:3])
    )


_AUTOMATON = _build()

# (start, end, family, value) of one keyword hit.
Hit = tuple[int, int, str, int]


# A message with more keywords than this is a list or junk (chat runs at one in ten words or
# fewer); the rest is not read, which keeps 32 KiB of "we decided tomorrow" near 10 ms.
MAX_HITS = 2048


def keyword_hits(low: str) -> list[Hit]:
    """Every keyword in ``low`` (the lower-cased text) that stands as whole words, by start."""
    size = len(low)
    hits: list[Hit] = []
    for last, (length, values) in _AUTOMATON.iter(low):
        end = last + 1
        if end < size and low[end].isalnum() and low[last] != ":":
            continue
        start = end - length
        if start > 0 and (low[start - 1].isalnum() or low[start - 1] in "'’"):
            continue
        for family, value in values:
            hits.append((start, end, family, value))
        if len(hits) >= MAX_HITS:
            break
    hits.sort()
    return hits
