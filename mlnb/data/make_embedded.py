"""Generate the embedded CNN/DailyMail-shaped set: synthetic news written by this project.

Every place, person, organisation and event is invented; sentences come from
templates in this file, so no text is taken from CNN/DailyMail or any corpus.
The output has MLPerf's exact record schema, with ``tok_input`` made by the
tokenizer given on the command line.

    python -m mlnb.data.make_embedded --tokenizer PATH --out mlnb/data/embedded/cnn_eval.json
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlnb.data.cnndm import dumps_records, records_from_articles
from mlnb.fileio import write_json_atomic, write_text_atomic

SEED = 8_150_713
N_RECORDS = 64
DEFAULT_TOKENIZER_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"

# Article lengths follow a clipped log-normal, like the real validation split
# (long tail of features, few very short items).
MEDIAN_WORDS = 480
SIGMA = 0.45
MIN_WORDS, MAX_WORDS = 150, 1100

# ---------------------------------------------------------------- name pools

TOWNS = [
    "Larkhaven", "Bramblewick", "Corran Bay", "Stellmouth", "New Tarrow", "Oxley Ferry",
    "Quennell", "Ashby Reach", "Dunmere", "Wrenfield", "Caddon Falls", "Hollins Gate",
    "Port Elsby", "Tavistone", "Kelderby", "Sallow Point", "Pennock Green", "Brisham",
    "Orrin Springs", "Millbeck", "Copper Ridge", "Eastwold", "Merriton", "Saltmarsh Quay",
    "Thorncastle", "Vennick", "Idlebrook", "Rushcombe", "Brenmoor", "Lower Tessington",
    "Marrowby", "Cindervale", "Juniper Flats", "Halford Wells",
]
REGIONS = [
    "Halvern County", "the Vell Valley", "Northmoor", "the Ardent Lowlands", "Calder Province",
    "the Easterly Downs", "Rusk County", "the Orrin Highlands",
]
RIVERS = ["River Vell", "River Tarrow", "River Orrin", "Slate River", "Minnow River", "River Calder"]
FEMALE = [
    "Maren", "Priya", "Helena", "Joanna", "Ruth", "Amara", "Claire", "Nadia", "Sofia", "Imogen",
    "Beatrice", "Carmen", "Lena", "Grace", "Yusra", "Tamsin", "Olivia", "Rosa", "Keiko", "Abigail",
    "Fiona", "Harriet", "Ines", "Martha", "Leila", "Wendy", "Ngozi", "Eleanor", "Freya", "Adaeze",
]
MALE = [
    "Tobias", "Daniel", "Marcus", "Samuel", "Owen", "Rafael", "Ibrahim", "Gareth", "Leon", "Kwame",
    "Hugo", "Patrick", "Dmitri", "Ewan", "Arjun", "Felix", "Connor", "Mateo", "Bernard", "Isaac",
    "Julian", "Kenji", "Nathaniel", "Oscar", "Reuben", "Simon", "Theo", "Victor", "Wesley", "Callum",
]
SURNAMES = [
    "Okafor", "Lindqvist", "Natarajan", "Harrow", "Pemberton", "Castellano", "Thorne", "Abernathy",
    "Kowalczyk", "Fairweather", "Quist", "Ashdown", "Brannigan", "Oduya", "Rasmussen", "Whitlock",
    "Takahashi", "Morrow", "Greaves", "Hollis", "Ibarra", "Jessop", "Kincaid", "Lambert", "Marsh",
    "Nakamura", "Osei", "Prentice", "Rahman", "Sutcliffe", "Tiernan", "Umeh", "Varga", "Wainwright",
    "Yeoman", "Zielinski", "Calloway", "Dunmore", "Everett", "Galloway", "Haddad", "Ingram",
    "Caldwell", "Moreau", "Petrov", "Sandoval", "Brightwell", "Cheung", "Dufresne", "Farrant",
    "Holloway", "Iqbal", "Mensah", "Lachance", "Ferreira", "Kaur", "Novak", "Ostrowski",
]
JOBS = [
    "retired teacher", "nurse", "bakery owner", "bus driver", "software developer", "university student",
    "electrician", "pharmacist", "carpenter", "cafe owner", "accountant", "dairy farmer", "postal worker",
    "hairdresser", "mechanic", "librarian", "delivery driver", "dentist", "shop assistant", "retired engineer",
]
# Written with their article, so templates say "at {uni}".
UNIVERSITIES = ["the University of Northmoor", "Vell Valley University", "the Calder Institute of Technology"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]
_SMALL = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
]

# ------------------------------------------------------------------- helpers


def words(n: int) -> str:
    """Newspaper style: spell out small numbers."""
    return _SMALL[n] if 0 <= n < len(_SMALL) else f"{n:,}"


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def money(millions: float) -> str:
    if millions >= 1000:
        return f"${millions / 1000:.1f} billion"
    if millions >= 10:
        return f"${millions:.0f} million"
    if millions >= 1:
        return f"${millions:.1f} million"
    return f"${round(millions * 1000) * 1000:,}"


def lead_in(quote: str) -> str:
    """A quote placed before its attribution ends with a comma, not a full stop."""
    if quote.endswith((".", ",")):
        return quote[:-1] + ","
    return quote if quote.endswith(("?", "!")) else quote + ","


def said(quote: str, attribution: str) -> str:
    return f'"{lead_in(quote)}" {attribution}.'


def colon(lead: str, quote: str) -> str:
    return f'{lead}: "{quote}"'


def possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def dateline(town: str, region: str) -> str:
    return f"{town.upper()}, {region.removeprefix('the ')} --"


@dataclass
class Person:
    first: str
    last: str
    female: bool

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def she(self) -> str:
        return "she" if self.female else "he"

    @property
    def her(self) -> str:
        return "her" if self.female else "his"


class Pick:
    """Seeded choices, with names and places never repeated inside one article."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._used: set[str] = set()

    def one(self, options: Sequence[Any]) -> Any:
        return self.rng.choice(options)

    def some(self, options: Sequence[Any], k: int) -> list[Any]:
        return self.rng.sample(list(options), k)

    def n(self, lo: int, hi: int, step: int = 1) -> int:
        return self.rng.randrange(lo, hi + 1, step)

    def f(self, lo: float, hi: float, digits: int = 1) -> float:
        return round(self.rng.uniform(lo, hi), digits)

    def _fresh(self, pool: Sequence[str]) -> str:
        choices = [x for x in pool if x not in self._used]
        value = self.rng.choice(choices)
        self._used.add(value)
        return value

    def person(self, female: bool | None = None) -> Person:
        if female is None:
            female = self.rng.random() < 0.5
        return Person(self._fresh(FEMALE if female else MALE), self._fresh(SURNAMES), female)

    def town(self) -> str:
        return self._fresh(TOWNS)

    def weekday(self) -> str:
        return self._fresh(WEEKDAYS)

    def workday(self) -> str:
        """Councils sit, courts rule and companies report on weekdays."""
        return self._fresh(WEEKDAYS[:5])

    def month(self) -> str:
        return self.one(MONTHS)

    def date(self) -> str:
        return f"{self.month()} {self.n(2, 28)}"


@dataclass
class Story:
    """An article in parts: ``core`` always runs; ``extra`` is (position, tag, text) in priority order."""

    core: list[str]
    extra: list[tuple[int, str, str]]
    highlights: list[str]
    # A highlight that is only true to the text when the paragraph with that tag is printed.
    tagged_highlights: list[tuple[str, str]] = field(default_factory=list)


def a_or_an(text: str) -> str:
    """The article for ``text``: "an 80-year-old", "an electrician", "a nurse"."""
    head = text.split("-")[0].split()[0].lower()
    if head.isdigit():
        return "an" if head.startswith("8") or head in {"11", "18"} else "a"
    # "a university", "a one-off": a vowel letter with a consonant sound.
    return "an" if head[0] in "aeiou" and not head.startswith(("uni", "use", "one", "eu")) else "a"


def age_for(job: str, p: Pick) -> int:
    # Keep ages believable for the job quoted.
    if "student" in job:
        return p.n(19, 26)
    if job.startswith("retired"):
        return p.n(62, 84)
    return p.n(24, 61)


Quote = str | tuple[str, str]  # plain quote, or (speaker's job, quote) when the words depend on the job


def voices(p: Pick, town: str, quotes: Sequence[Quote], k: int, jobs: Sequence[str] = JOBS, place: str = "") -> list[str]:
    """Up to ``k`` members of the public, each with a different quote and framing."""
    out = []
    for item in p.some(quotes, min(k, len(quotes))):
        person = p.person()
        job, quote = item if isinstance(item, tuple) else (p.one(jobs), item)
        age = age_for(job, p)
        frame = p.n(0, 3)
        if frame == 0:
            out.append(said(quote, f"said {person.name}, {age}, {a_or_an(job)} {job} from {town}"))
        elif frame == 1:
            years = min(age - 2, p.n(20, 45))
            out.append(colon(f"{person.name}, {a_or_an(job)} {job} who has lived in {town} for {words(years)} years, said", quote))
        elif frame == 2 and place:
            out.append(colon(f"Speaking outside {place}, {person.name}, {a_or_an(job)} {job}, said", quote))
        else:
            out.append(said(quote, f"{person.name}, {a_or_an(str(age))} {age}-year-old {job}, told reporters"))
    return out


def town_profile(p: Pick, town: str, region: str, growing: bool | None = None) -> str:
    """A background paragraph about the town; ``growing=False`` for stories about decline."""
    kind = p.one(["former mill town", "market town", "harbour town", "commuter town", "university town", "former mining town"])
    pop = p.n(9, 140) * 1000
    industry = p.one(["coal mining", "textile manufacturing", "shipbuilding", "fishing", "steelmaking", "paper making"])
    shape = p.n(0, 3) if growing is None else (0 if growing else 1)
    if shape == 0:
        why = p.one(
            [
                "families priced out of the larger cities have moved in",
                "new employers have arrived at the business park on its northern edge",
                "a faster rail link has brought the regional capital within an hour's journey",
                "a growing number of retirees have settled in the area",
            ]
        )
        return (
            f"{town}, a {kind} of about {pop:,} people in {region}, has grown quickly over the past decade as {why}. "
            "Local officials say that growth has put pressure on housing, roads and public services."
        )
    if shape == 1:
        return (
            f"{town}, a {kind} of about {pop:,} people in {region}, has lost almost a {p.one(['fifth', 'quarter'])} of its population since the {p.n(197, 199)}0s, when {industry} began to decline. "
            + p.one(
                [
                    "Its high street has recovered a little in recent years, helped by independent shops and a weekly market, but local leaders say the town still struggles to hold on to its young people.",
                    "Empty shop fronts are still common in the town centre, and local leaders have spent years trying to attract new employers to replace the jobs that were lost.",
                    "House prices remain well below the regional average, which has begun to draw young families, but wages are low and many residents travel elsewhere for work.",
                ]
            )
        )
    if shape == 2:
        feature = p.one(["its sandy beaches and old harbour", "its medieval castle and walking trails", "its spring water and Victorian spa buildings", "the hills and lakes that surround it"])
        return (
            f"{town}, which has about {pop:,} residents, is best known for {feature}. "
            "Its population roughly doubles in the summer months, which brings money into the town but also puts pressure on roads, parking and health services."
        )
    return (
        f"With about {pop:,} residents, {town} is one of the larger towns in {region}. For much of the last century its economy depended on {industry}; "
        "today most people work in health care, education, retail and tourism, and many commute to jobs in the regional capital."
    )


# ------------------------------------------------------------ local government


def _proposal(p: Pick, town: str) -> dict[str, Any]:
    year = p.n(1998, 2016)
    choice = p.n(0, 3)
    if choice == 0:
        homes, site, pct = p.n(12, 60) * 10, p.one(["gasworks", "rail yard", "brick works", "bus depot", "dairy"]), p.n(18, 45)
        return {
            "what": f"a plan to build {homes} homes on the site of the old {site}",
            "short": f"a {homes}-home development on the old {site} site",
            "benefit": f"help ease a housing shortage that has pushed average rents in {town} up by {pct} percent in five years, and note that a third of the homes will be let below market rates",
            "hl": f"supporters say it will ease a shortage that has pushed rents up {pct} percent in five years; opponents fear roads and schools cannot cope",
            "objection": "the roads, schools and doctors' surgeries on that side of town are already stretched and cannot absorb hundreds of new families",
            "cost": p.n(40, 120),
            "funding": f"most of which will be paid by the developer, {p.one(['Calloway Homes', 'Brightfold Living', 'Redmere Estates'])}, with the council contributing the land",
            "change": "cutting the height of the tallest building from eight storeys to five and adding a public park along the northern edge of the site",
            "history": f"A smaller scheme for the same site was turned down in {year} after a survey found that the ground would need an expensive clean-up before anything could be built on it",
            "group": f"{town} Residents First",
        }
    if choice == 1:
        return {
            "what": "a plan to replace the town's crumbling central library with a new library and community hub",
            "short": "a new central library and community hub",
            "benefit": "replace a 1960s building whose roof has leaked for more than a decade, and bring a cafe, meeting rooms and a council help desk under one roof",
            "hl": "supporters say the old library's leaking roof made a new building unavoidable; critics want the money spent on roads and branch libraries",
            "objection": "the money would be better spent on repairing roads and keeping branch libraries open in the outlying villages",
            "cost": p.n(12, 30),
            "funding": "to be paid for with a mix of borrowing, a national cultural buildings grant and the sale of two council-owned office blocks",
            "change": "keeping the old building's carved stone entrance and adding a children's reading garden",
            "history": f"Plans to refurbish the existing library were abandoned in {year} when engineers estimated that the repairs would cost almost as much as a new building",
            "group": f"Friends of {town} Branch Libraries",
        }
    if choice == 2:
        street = p.one(["High Street", "Station Road", "Queen's Parade", "Mill Lane", "Harbour Road"])
        spaces, crashes = p.n(40, 160), p.n(18, 70)
        return {
            "what": f"a network of protected cycle lanes along {street} and four connecting roads",
            "short": f"protected cycle lanes along {street}",
            "benefit": f"make the route safer after {crashes} crashes involving cyclists in the past five years, and cut traffic outside the two primary schools on the street",
            "hl": f"supporters point to {crashes} crashes involving cyclists in five years; shop owners say losing {spaces} parking spaces will hurt trade",
            "objection": f"removing {spaces} parking spaces will drive customers away from shops that are already struggling",
            "cost": p.f(3, 9),
            "funding": "most of which will come from a regional active travel fund, with the rest drawn from the council's road maintenance budget",
            "change": f"keeping {spaces // 4} short-stay spaces for deliveries and disabled drivers and adding a loading bay outside the market hall",
            "history": f"A painted cycle lane was added to part of {street} in {year}, but it was removed two years later after complaints that delivery vans routinely blocked it",
            "group": f"the {street} Traders' Association",
        }
    river, homes, flood_year = p.one(RIVERS), p.n(200, 900), p.n(2005, 2019)
    return {
        "what": f"a flood wall along the {river} riverfront",
        "short": "a riverfront flood wall",
        "benefit": f"protect about {homes} homes and businesses that were flooded in {flood_year}, when the {river} rose more than six feet in a single night",
        "hl": f"supporters say it will protect about {homes} homes and businesses; critics say it will cut the town off from its river",
        "objection": "a concrete wall will cut the town off from its waterfront, and that cheaper natural defences upstream were never properly considered",
        "cost": p.n(15, 60),
        "funding": "with two-thirds of the cost covered by a national flood defence grant and the rest by council borrowing",
        "change": "lowering sections of the wall near the old quay and adding glass panels so that the river can still be seen from the promenade",
        "history": f"Residents have argued about how best to protect the riverfront since the {flood_year} flood, which caused an estimated {money(p.n(20, 80))} in damage",
        "group": "Keep Our Riverfront Open",
    }


COUNCIL_PRO = [
    "My daughter can't afford to live in the town she grew up in. Something has to change, and this is a start.",
    "People said exactly the same things about the last big project, and now nobody can imagine the town without it.",
    "It isn't perfect, but I'd rather the council did something than spent another ten years talking about it.",
    "I've watched this town stand still for too long. I'm glad somebody finally made a decision.",
]
COUNCIL_CON = [
    "Nobody asked the people who actually live on this street. We found out from a leaflet.",
    "We were told the last project would come in on budget, and it didn't. Why would this one be any different?",
    "I'm not against change. I'm against paying for somebody else's mistakes.",
    "They say they listened, but the plan they approved tonight is almost exactly the one they started with.",
]


def story_council(p: Pick, town: str, region: str) -> Story:
    body = p.one(["Town Council", "Borough Council", "City Council"])
    council = f"{town} {body}"
    mayor, rebel, planner, finance = p.person(), p.person(), p.person(), p.person()
    yes = p.n(6, 9)
    no = p.n(2, yes - 2)
    months, years = p.n(8, 30), p.n(2, 4)
    wd, start, decision = p.workday(), p.month(), p.month()
    prop = _proposal(p, town)
    signatures = p.n(12, 95) * 100
    lede = p.one(
        [
            f"{dateline(town, region)} {council} voted {yes}-{no} on {wd} night to approve {prop['what']}, ending {months} months of often heated debate.",
            f"{dateline(town, region)} After {months} months of argument, {council} has approved {prop['what']}, voting {yes}-{no} at a packed meeting on {wd} night.",
        ]
    )
    core = [
        lede,
        f"Supporters say the project will {prop['benefit']}. Opponents argue that {prop['objection']}.",
        f"The project is expected to cost about {money(prop['cost'])}, {prop['funding']}. Work is due to begin in {start} and should take about {words(years)} years to complete.",
    ]
    extra = [
        (10, "mayor", said(p.one(["This is the most important decision this council has made in a generation.", "We have talked about this for long enough, and tonight we chose to act.", "Nobody pretends this was an easy decision."]), f"Mayor {mayor.name} said after the vote")
         + ' "' + p.one(["Our children will thank us for it.", "Doing nothing was never a real option for this town.", "I understand the worries people have raised, and we will keep listening while the work goes ahead."]) + '"'),
        (11, "rebel", f"Councillor {rebel.name}, who led the opposition to the plan, said the vote had been rushed through before residents had seen the final costs. "
         + said(p.one(["We are being asked to sign a blank cheque.", "I have no doubt the intentions are good, but the figures simply do not add up.", "The people on the streets most affected have been treated as an afterthought."]), f"{rebel.she} said")),
        (20, "meeting", f"More than {p.n(15, 40) * 10} residents crowded into the council chamber and an overflow room for the meeting, which lasted almost {words(p.n(4, 6))} hours. "
         f"During the public comment period {p.n(25, 70)} people spoke, most of them against the plan, and the mayor twice had to call for quiet."),
        (21, "petition", f"A petition against the plan organised by {prop['group']} gathered {signatures:,} signatures, and about {p.n(5, 30) * 10} protesters stood on the steps of the town hall before the meeting, holding placards and chanting."),
        (30, "history", f"{prop['history']}. The idea returned to the council's agenda when a new administration took office, promising to settle the question within its first term."),
        (31, "profile", town_profile(p, town, region)),
        (32, "budget", f"The vote comes as the council faces a projected shortfall of {money(p.f(1.5, 9))} in next year's budget. {finance.name}, the council's finance director, told members that the project's costs had been kept separate from day-to-day spending and would not force cuts to other services, "
         f"though {finance.she} acknowledged that borrowing costs had risen since the plan was first drawn up."),
        (33, "planner", f"{planner.name}, the council's head of planning, said the design had been revised {words(p.n(3, 7))} times in response to public comments, including {prop['change']}. "
         + said("We have not been able to give everyone what they wanted, but this is a much better scheme than the one we started with.", f"{planner.she} said")),
    ]
    ally, expert, owner = p.person(), p.person(), p.person()
    neighbour = p.town()
    extra += [
        (12, "ally", f"Councillor {ally.name}, who chairs the council's {p.one(['housing', 'finance', 'environment', 'transport'])} committee, said the town could not afford to wait any longer. "
         + said("Every year we delay, the cost goes up and the problem gets worse. I would rather be criticised for acting than for standing by", f"{ally.she} said")),
        (13, "delay", "Opponents had asked the council to delay the vote until after next year's local elections, arguing that a decision of this size should be put to voters. "
         "That motion was defeated by a single vote earlier in the evening, after a debate that lasted more than an hour."),
        (34, "consult", f"A public consultation last year drew {p.n(11, 60) * 100:,} responses, the largest number the council has ever received. "
         f"According to a summary published by the council, {p.n(41, 63)} percent of those who responded supported the plan in principle, although many of them also said they were worried about its cost and about disruption during construction."),
        (35, "expert", f"{expert.name}, who studies local government at {p.one(UNIVERSITIES)}, said disputes of this kind had become common in fast-growing towns across the region. "
         + said("Councils are being asked to plan twenty years ahead with budgets that barely cover next year, so it is hardly surprising that residents are sceptical", f"{expert.she} said")),
        (36, "business", f"{owner.name}, who runs a {p.one(['hardware shop', 'bakery', 'florist', 'bicycle shop', 'dry cleaner'])} near the town centre, said the effect on small businesses had been overlooked. "
         + said("Nobody from the council has come in here to ask what the building work will mean for us. We could have lorries and scaffolding outside for years", f"{owner.she} said")),
        (37, "neighbour", f"Officials from neighbouring {neighbour}, which approved a similar scheme {words(p.n(3, 8))} years ago, have been invited to share what they learned. "
         f"That project finished {p.one(['on time but over budget', 'a year late but within budget', 'roughly on schedule'])}, and local leaders there say it has largely won over its early critics."),
        (38, "students", f"Students from {town} High School presented their own ideas to the council earlier this year, and several of them, including {p.one(['a rooftop garden', 'more seating and shade', 'a covered area for skateboarding'])}, "
         "were included in the final design. Their teacher said the experience had taught them more about local democracy than any textbook."),
        (89, "tender", f"If the plan is approved, the council will appoint a contractor through an open tender. Officials said they expected at least {words(p.n(4, 9))} firms to bid, "
         "that local companies would be encouraged to compete for parts of the work, and that the contract would include financial penalties if the project ran late."),
    ]
    for i, text in enumerate(voices(p, town, p.some(COUNCIL_PRO, 2) + p.some(COUNCIL_CON, 2), 4, place="the town hall")):
        extra.append((40 + i, f"voice{i}", text))
    extra += [
        (90, "next", f"The plan still needs final approval from the regional planning authority, which is expected to make its decision in {decision}. Members of {prop['group']}, which opposes the scheme, said they were taking legal advice."),
        (91, "session", f"The council said it would hold a public information session about the project on {p.date()} at {p.one(['the town hall', 'the community centre', 'the old corn exchange'])}, and that the construction timetable would be posted on its website."),
    ]
    return Story(
        core,
        extra,
        [
            f"{council} approves {prop['short']} by a vote of {yes}-{no}.",
            f"The project will cost about {money(prop['cost'])} and take about {words(years)} years to build.",
            cap(prop["hl"]) + ".",
        ],
        [
            ("petition", f"A petition against the plan gathered {signatures:,} signatures."),
            ("next", f"The regional planning authority is due to give its final decision in {decision}."),
        ],
    )


# ------------------------------------------------------------------- weather


def _weather_event(p: Pick, town: str, region: str, agency: str, wd: str) -> dict[str, Any]:
    other = p.town()
    choice = p.n(0, 3)
    if choice == 0:
        name = "Storm " + p.one(["Alder", "Brisa", "Corwin", "Delia", "Ember", "Fenna", "Garrick"])
        wind, rain, power = p.n(60, 95), p.f(2.0, 5.5), p.n(8, 90) * 1000
        return {
            "other": other,
            "noun": "storm",
            "lede": f"{name} tore across {region} on {wd}, bringing winds of up to {wind} miles per hour, toppling trees onto roads and homes and leaving about {power:,} households without electricity.",
            "detail": f"The {agency} said the strongest gust was measured on the exposed headland near {other} shortly after {p.n(1, 5)} p.m. {town} recorded {rain} inches of rain in less than a day, and the main road between {town} and {other} was blocked for most of the afternoon by fallen trees.",
            "hl": [f"{name} brings winds of up to {wind} mph to {region}.", f"About {power:,} homes and businesses lose power, and fallen trees block the road to {other}."],
            "expert": ["This was the strongest storm to reach this part of the coast in at least a decade.", "The ground was already saturated after a wet month, which is why so many trees came down."],
            "calls": "fallen trees, loose roof tiles and downed power lines",
            "services": f"Rail services between {town} and the regional capital were suspended for the afternoon after a tree fell across the line, and {words(p.n(8, 20))} schools closed early so that children could get home before the worst of the weather.",
            "repair": f"Crews from three neighbouring counties have been called in to help repair damaged power lines. The electricity company said it expected to restore supplies to most customers by {p.weekday()} night, but warned that some homes in remote areas could be without power until the weekend.",
            "public": [
                "I heard a crack like a gunshot, and the next thing I knew the old oak was lying across my car.",
                "We've lived through plenty of storms here, but I've never seen the sea come that far up the beach.",
                "The power went off at about four o'clock, and we've been using candles and a camping stove since.",
                "Our neighbours came round with chainsaws before the council had even answered the phone. That's what this town is like.",
            ],
            "past": f"Older residents compared the storm with the great gale of {p.n(1962, 1990)}, which destroyed the pier at {other} and is still talked about in the area.",
            "outlook": f"The {agency} said the wind would ease overnight, but warned that another band of heavy rain could cause local flooding later in the week.",
            "hl_outlook": "Forecasters warn that more rain later in the week could cause local flooding.",
        }
    if choice == 1:
        river, rain, hours, homes = p.one(RIVERS), p.f(3.0, 6.5), p.n(3, 8), p.n(60, 480)
        rescued = p.n(12, 60)
        return {
            "other": other,
            "noun": "heavy rain",
            "lede": f"Flash flooding forced the evacuation of {homes} homes in {town} on {wd} after {rain} inches of rain fell in just {words(hours)} hours, sending the {river} over its banks.",
            "detail": f"Water more than three feet deep swept through parts of the town centre, where shop owners spent the afternoon piling sandbags against their doors. Firefighters used boats to reach {rescued} people trapped in cars and houses, and a care home on the edge of town was evacuated as a precaution.",
            "hl": [f"Flash flooding forces {homes} homes in {town} to be evacuated after {rain} inches of rain in {words(hours)} hours.", f"Firefighters use boats to rescue {rescued} people as the {river} bursts its banks."],
            "expert": ["That amount of rain in such a short time would overwhelm almost any drainage system.", "The river rose faster than any of our models predicted, because the storm stalled directly over the upper valley."],
            "calls": "flooded homes and people trapped in cars",
            "services": f"The road bridge over the {river} was closed after inspectors found debris piled against its supports, cutting the main route between {town} and {other}. Bus services were suspended and {words(p.n(5, 20))} schools will stay closed until at least {p.workday()}.",
            "repair": f"The council said {p.n(20, 90)} council-owned homes had been damaged, and that it was working with charities to find temporary accommodation for families who could not return home. Engineers will inspect the bridge before it reopens.",
            "public": [
                "The water came under the door so fast we barely had time to get the photographs upstairs.",
                ("shop owner", "I've run this shop for twenty years and I've never seen anything like it. Everything on the bottom shelves is ruined."),
                "A man in a kayak paddled past my window, and that's when I realised how bad it was.",
                "We were told the new drains would stop this happening again. They clearly didn't.",
            ],
            "past": f"It was the worst flooding in {town} since {p.n(1968, 2012)}, when the {river} rose to within a few inches of the market square and hundreds of people had to be moved to emergency shelters.",
            "outlook": f"The {agency} said the rain had moved away to the east and the {river} was expected to fall steadily over the next two days, though it warned people not to walk or drive through floodwater.",
            "hl_outlook": f"The {river} is expected to fall over the next two days.",
        }
    if choice == 2:
        temp, old, year, treated = p.n(104, 112), 0, p.n(1976, 2019), p.n(40, 260)
        old = temp - p.n(1, 3)
        return {
            "other": other,
            "noun": "heat",
            "lede": f"{cap(region)} recorded its hottest day since records began on {wd}, as the temperature in {town} reached {temp} degrees Fahrenheit and officials urged people to stay indoors during the afternoon.",
            "detail": f"The previous record of {old} degrees was set in {year}. Hospitals in the area treated {treated} people for heat-related illness over two days, most of them older residents, and the regional grid operator asked households to limit their use of air conditioning in the early evening to avoid blackouts.",
            "hl": [f"{town} reaches {temp} degrees Fahrenheit, the hottest day on record in {region}.", f"Hospitals treat {treated} people for heat-related illness over two days."],
            "expert": ["We are seeing these extremes arrive earlier in the summer and last longer than they used to.", "The nights are the real danger. When it stays this warm after dark, the body never gets a chance to recover."],
            "calls": "people who had collapsed in the heat",
            "services": f"Train operators imposed speed limits on several lines because of the risk of rails buckling, causing delays of up to an hour, and {p.n(10, 40)} schools sent pupils home at lunchtime.",
            "repair": f"The council opened {words(p.n(3, 9))} cooling centres in libraries and community halls, and volunteers spent the day checking on elderly residents who live alone. Water companies asked customers not to use garden hoses until further notice.",
            "public": [
                "I've lived here all my life and I've never known heat like it. Even the sea felt warm.",
                "We've got the curtains shut and a wet towel on the dog. That's about all you can do.",
                ("builder", "I work on a building site. We started at five this morning and stopped at eleven, because it just wasn't safe."),
                "My mother is ninety-one. I've been round to see her three times today to make sure she's drinking enough.",
            ],
            "past": f"The {year} heat wave, which lasted almost two weeks, led to water restrictions across {region} and is blamed for a series of grass fires that burned several thousand acres of farmland.",
            "outlook": f"The {agency} said temperatures would stay above 95 degrees until {p.weekday()}, when thunderstorms are expected to bring some relief.",
            "hl_outlook": "Forecasters expect thunderstorms to bring relief later in the week.",
        }
    snow, stranded, airport = p.n(10, 26), p.n(80, 400), f"{other} Airport"
    return {
        "other": other,
        "noun": "snow",
        "lede": f"A late-season snowstorm dumped up to {snow} inches of snow on {region} on {wd}, closing schools, stranding drivers and grounding flights at {airport}.",
        "detail": f"Snowplough crews worked through the night but struggled to keep up as the snow fell at more than an inch an hour. About {stranded} drivers spent part of the night in their cars on the highway north of {town} before the road was cleared early the next morning.",
        "hl": [f"Up to {snow} inches of snow fall on {region}, closing schools and grounding flights at {airport}.", f"About {stranded} drivers are stranded overnight on the highway north of {town}."],
        "expert": ["Snow this late in the season is unusual but not unheard of. What made this one difficult was how quickly it fell.", "The temperature sat right around freezing, which gave us heavy, wet snow that brings down branches and power lines."],
        "calls": "stranded vehicles and people who had fallen on icy pavements",
        "services": f"More than {p.n(60, 180)} flights were cancelled at {airport}, and bus services across the region were suspended for the day. Every public school in {town} was closed.",
        "repair": "The council said its gritting lorries had used more salt in one night than in the whole of the previous winter, and that it had asked neighbouring authorities to lend extra supplies.",
        "public": [
            "We'd put the snow shovels away for the year. I had to dig mine out of the back of the garage.",
            "I was in the car for eleven hours. A farmer walked along the line of cars with a flask of tea, and I could have hugged him.",
            "The kids are thrilled. I'm less thrilled, because I still have to get to work somehow.",
            "It looks beautiful, but half the street has no power and the pipes are starting to freeze.",
        ],
        "past": f"Heavy snow is rare in {town} this late in the season. The last comparable storm, in {p.n(1970, 2015)}, left parts of the region cut off for three days.",
        "outlook": f"The {agency} said milder air would arrive by {p.weekday()}, but warned that melting snow could cause flooding in low-lying areas.",
        "hl_outlook": "Forecasters warn melting snow could cause flooding once milder air arrives.",
    }


def story_weather(p: Pick, town: str, region: str) -> Story:
    agency = f"{region.removeprefix('the ')} Weather Service"
    wd = p.weekday()
    ev = _weather_event(p, town, region, agency, wd)
    forecaster, chief, scientist = p.person(), p.person(), p.person()
    uni = p.one(UNIVERSITIES)
    calls, hurt = p.n(150, 900), p.n(2, 12)
    cost = p.f(2, 40)
    core = [
        f"{dateline(town, region)} {ev['lede']}",
        ev["detail"],
        f"Emergency services said they had received more than {calls} calls by {wd} evening, most of them about {ev['calls']}. {cap(words(hurt))} people were treated in hospital, none of them for serious injuries.",
    ]
    extra = [
        (10, "expert", said(ev["expert"][0], f"said {forecaster.name}, a meteorologist with the {agency}") + f' "{ev["expert"][1]}"'),
        (21, "services", ev["services"]),
        (22, "repair", ev["repair"]),
        (30, "chief", f"{chief.name}, who leads {possessive(town)} emergency planning team, said the response had been stretched but had held up. "
         + said("Our crews worked through the night, and I want to thank every volunteer who turned out to help.", f"{chief.she} said") + ' "'
         + "If you have an elderly neighbour, please knock on their door and make sure they are all right.\""),
        (31, "cost", f"Early estimates put the cost of the damage at about {money(cost)}, though council officials cautioned that the figure was likely to rise once engineers had inspected roads, bridges and public buildings. Insurers said they had already received hundreds of claims."),
        (32, "past", ev["past"]),
        (33, "climate", f"Climate scientists have warned that extreme weather of this kind is becoming more frequent in the region. A study led by {scientist.name} at {uni} last year found that events of this severity were now {p.one(['about twice', 'roughly three times', 'nearly four times'])} as likely as they were in the middle of the last century."),
        (34, "profile", town_profile(p, town, region)),
        (35, "help", f"A rest centre has been opened at {p.one(['the leisure centre', 'the community hall', 'a school gymnasium'])} for anyone unable to stay at home, and the council has set up a telephone helpline for residents who need help with repairs or supplies. Local businesses have donated food, blankets and bottled water."),
    ]
    farmer, leader = p.person(), p.person()
    extra += [
        (23, "roads", f"Police urged people not to travel unless their journey was essential. {cap(words(p.n(6, 19)))} minor collisions were reported on roads around {town} during the day, "
         f"and a lorry that slid across the highway near {ev['other']} blocked both lanes for almost three hours."),
        (24, "farm", f"Farmers in the surrounding countryside said it was too early to know how badly crops and livestock had been affected. {farmer.name}, who keeps {p.n(8, 40) * 10} {p.one(['sheep', 'dairy cows', 'beef cattle'])} on a farm outside {town}, said: "
         '"We spent the day checking on the animals and the buildings. There is not much you can do about the weather except be ready for it."'),
        (26, "shops", f"Many shops and cafes in {town} closed early, and a supermarket on the edge of town said shelves of bread, milk and bottled water had been emptied within hours."),
        (39, "animals", f"Animal welfare groups urged owners to keep pets indoors and to check on livestock regularly, and a shelter in {town} said it had taken in several dogs that had run away from home during the day."),
        (36, "insurance", "The regional insurers' association advised people to photograph any damage before starting repairs and to keep receipts for emergency work. "
         "It said most home policies would cover the damage, but warned that households without insurance could face a long wait for help from the government's hardship fund."),
        (37, "leader", f"{leader.name}, the leader of {town} council, said the town would need help from the regional government to pay for the clean-up. "
         + said("We will be making the case, in the strongest possible terms, that this community should not have to carry the cost alone", f"{leader.she} said")),
        (38, "warning", f"The {agency} issued its first warning {words(p.n(2, 4))} days before the {ev['noun']} arrived, and officials said that had given emergency services time to prepare. "
         "Some residents complained on social media, however, that the warnings had been too vague and that they had not understood how severe conditions would be."),
    ]
    for i, text in enumerate(voices(p, town, ev["public"], 4)):
        extra.append((40 + i, f"voice{i}", text))
    extra.append((90, "outlook", ev["outlook"]))
    return Story(
        core,
        extra,
        [*ev["hl"], f"{cap(words(hurt))} people are treated in hospital, none with serious injuries."],
        [("outlook", ev["hl_outlook"]), ("cost", f"Early estimates put the damage at about {money(cost)}.")],
    )


# ------------------------------------------------------------------- science



def _finding(p: Pick, town: str, region: str) -> dict[str, Any]:
    choice = p.n(0, 3)
    if choice == 0:
        name = f"Montivox {town.lower().replace(' ', '')}ensis"
        size, years, months, area = p.f(0.8, 1.6), p.n(2, 5), p.n(14, 30), p.n(4, 25)
        return {
            "field": "biodiversity research",
            "inst": p.one(["Vell Valley University", "the University of Northmoor"]),
            "journal": "the Journal of Regional Ecology",
            "society": "naturalists' club",
            "earlier": f"The same group described two new species of salamander from neighbouring valleys in {p.n(2009, 2019)}, and its surveys have since become the most detailed record of amphibians in the region.",
            "method2": "To be certain, the team compared X-ray scans of the frog's skeleton with those of its closest relatives held in museum collections. The differences in the shape of the skull and the length of the toes were small but consistent, they said.",
            "lede": f"Scientists have identified a previously unknown species of tree frog in the cloud forests above {town}, a discovery they say shows how much remains to be learned about the wildlife of {region}.",
            "method": f"The frog, which is about {size} inches long and has bright orange markings on its hind legs, was first spotted by a team surveying mountain streams {words(years)} years ago. Researchers spent the next {months} months recording its call and comparing its DNA with that of related species before concluding that it was new to science.",
            "result": f"The species has been named {name}, after the town. Its call, a rapid series of clicks that sounds more like an insect than a frog, is unlike that of any other amphibian in the region, the team reported.",
            "hl": [f"Scientists identify a new species of tree frog in the cloud forests above {town}.", f"The frog, named {name}, was first spotted by researchers {words(years)} years ago."],
            "hl_caveat": f"Its range may cover less than {area} square miles, and researchers want it listed as endangered.",
            "lead_q": ["You walk these forests for years and think you know them, and then something like this turns up.", "The call gave it away. Once we knew what to listen for, we started hearing it in places we had walked past a hundred times."],
            "indep": "a herpetologist who was not involved in the research",
            "indep_q": "The genetic evidence is convincing. The harder question now is how many of these frogs there are and whether their habitat is secure.",
            "caveat": f"The researchers estimate that the frog lives in an area of less than {area} square miles and that its population may be only a few thousand. They have recommended that it be listed as endangered, pointing to logging and a warming climate as the main threats to the cold, misty conditions it depends on.",
            "context": f"At least {words(p.n(3, 9))} new species of amphibian have been described in {region} in the past two decades, many of them from remote valleys that were rarely visited by scientists before new forest roads were built.",
            "next": "The team plans to return to the forest next spring to fit small radio tags to a number of frogs, which should show how far they travel and where they breed.",
            "student": "spent two wet seasons camped beside the streams recording the frogs at night",
            "student_q": "Most nights you hear nothing but rain. The night we first recorded that call, none of us could sleep afterwards.",
            "policy": f"Conservation groups said the discovery strengthened the case for extending a protected area that currently covers only part of the forest above {town}. Regional officials said they would consider the proposal at a meeting later in the year.",
            "public": ["It's wonderful to think something like that has been living up there all along.", "I walk my dog up those paths every morning. I'll be listening out for it now.", "I hope this means they'll finally stop the logging on the upper slopes.", "My son wants to be a biologist now. That's all he's talked about this week."],
            "fieldwork": "night-time surveys",
        }
    if choice == 1:
        samples, depth, particles = p.n(40, 160), p.n(12, 60) * 100, p.n(20, 140)
        return {
            "field": "ocean science",
            "inst": "the Halvern Institute of Marine Science",
            "journal": "the journal Coastal Science Review",
            "society": "sailing club",
            "earlier": f"In an earlier study, the same team found plastic fibres in the stomachs of {p.n(20, 45)} percent of fish caught in coastal waters near {town}.",
            "method2": "To make sure the samples were not contaminated by fibres from the researchers' own clothing, the team worked in cotton overalls, left open dishes in the laboratory to catch stray fibres and subtracted any found in them from the results.",
            "lede": f"Tiny fragments of plastic have been found in every one of {samples} samples of sediment taken from the sea floor off the coast of {region}, some of them from depths of more than {depth:,} feet, according to a new study.",
            "method": f"Researchers collected the samples over three summers using a remotely operated vehicle launched from a research ship based at {town}. Each sample was washed, filtered and examined under a microscope, and the particles were identified using a technique that measures how they absorb infrared light.",
            "result": f"On average, the team found {particles} particles in every 100 grams of dry sediment. Most were fibres from synthetic clothing, and the highest concentrations were found in deep channels where currents slow down and fine material settles out.",
            "hl": [f"Microplastics are found in all {samples} sediment samples taken off the coast of {region}.", f"Some samples came from more than {depth:,} feet below the surface."],
            "hl_caveat": "Most of the particles were fibres from synthetic clothing.",
            "lead_q": ["We expected to find some plastic. We did not expect to find it everywhere, including places no human has ever been.", "The deep sea is acting like a sink. What goes into our rivers and drains eventually ends up down there."],
            "indep": "a marine chemist who reviewed the study",
            "indep_q": "This is careful work and it fills an important gap. We still know very little about what these particles do to animals living on the sea floor.",
            "caveat": "The authors caution that their samples came from a relatively small area and that concentrations could be different elsewhere along the coast. They also note that the study did not measure whether the plastic was harming wildlife, which will require separate experiments.",
            "context": "Plastic pollution has been found in almost every environment scientists have examined, from mountain lakes to Arctic ice, but the deep sea floor has been studied far less because collecting samples there is difficult and expensive.",
            "next": "The team hopes to repeat the survey in five years to see whether concentrations are rising, and to begin laboratory studies of how the particles affect worms and shellfish that live in the sediment.",
            "student": "spent hundreds of hours counting particles under the microscope",
            "student_q": "After a while you start seeing blue fibres when you close your eyes. It's a strange way to spend a year, but it matters.",
            "policy": "Environmental groups said the findings should prompt action on clothing fibres, such as requiring filters on new washing machines, a measure that regional lawmakers have debated but not yet approved.",
            "public": ["It makes you think twice about what goes down the drain.", "My family have fished these waters for three generations. This is frightening.", "I'd like to know what the government is actually going to do about it.", "We all use the sea here. We ought to be looking after it better."],
            "fieldwork": "sample processing",
        }
    if choice == 2:
        pct, cycles, months = p.n(30, 65), p.n(8, 30) * 100, p.n(18, 36)
        return {
            "field": "battery research",
            "inst": "the Calder Institute of Technology",
            "journal": "the journal Applied Materials Letters",
            "society": "civic society",
            "earlier": f"The group first reported on a related material {words(p.n(3, 6))} years ago, but that version broke down after a few hundred cycles. The new recipe adds a small amount of a second metal that appears to hold the structure together.",
            "method2": "The researchers used powerful X-ray beams at a national laboratory to watch the material as it charged, which allowed them to see how its structure changed from one second to the next.",
            "lede": f"Engineers in {town} say they have developed a new material for rechargeable batteries that could cut charging times by as much as {pct} percent without shortening the battery's life.",
            "method": f"The material is a modified form of the layered metal oxide used in many existing batteries, with small amounts of two additional elements mixed into its structure. The team spent {months} months testing different recipes before finding one that stayed stable under repeated fast charging.",
            "result": f"In laboratory tests, small cells made with the new material kept more than 90 percent of their capacity after {cycles:,} charging cycles, compared with about {p.n(60, 75)} percent for cells made with a standard material.",
            "hl": [f"Engineers in {town} develop a battery material that could cut charging times by up to {pct} percent.", f"Test cells kept more than 90 percent of their capacity after {cycles:,} charging cycles."],
            "hl_caveat": "The results come from small laboratory cells, and larger batteries have not yet been tested.",
            "lead_q": ["Charging time is one of the biggest things that puts people off electric cars. If we can bring it down, that changes the conversation.", "The key was finding a structure that doesn't crack when the lithium moves in and out quickly."],
            "indep": "a battery researcher who was not involved in the work",
            "indep_q": "The results are promising, but many materials look good in the lab and then fail when they are scaled up. The next step is the real test.",
            "caveat": "The researchers stress that the results come from small cells of the kind used in laboratories, and that it is not yet clear whether the material will behave in the same way in the much larger batteries used in cars.",
            "context": "Battery researchers around the world are racing to make cells that charge faster, last longer and rely less on expensive metals. Dozens of promising materials are announced each year, but only a handful ever reach commercial production.",
            "next": f"The team has applied for a patent and is in talks with {p.one(['Brightfold Energy', 'Veltrane Motors', 'Quillmark Power'])}, a regional manufacturer, about producing larger test cells next year.",
            "student": "ran many of the charging tests",
            "student_q": "We had weeks where every sample cracked. When one finally held up, we tested it three more times because we didn't believe it.",
            "policy": "The regional government, which has set a target for half of all new cars sold to be electric within a decade, said the research showed the value of its investment in local laboratories.",
            "public": ["If it means I can charge the car while I have a coffee, I'm all for it.", "It's good to see this kind of work happening here and not just in the big cities.", "I'll believe it when I see it in the shops, but good luck to them.", "It would be nice if some of the jobs that come from it stayed in this town."],
            "fieldwork": "",
        }
    age, acres, finds = p.n(18, 45) * 100, p.n(2, 9), p.n(300, 2400)
    return {
        "field": "archaeology",
        "inst": "the University of Northmoor",
        "journal": "the journal Archaeology Quarterly",
        "society": "history society",
        "earlier": f"Aerial photographs taken during a dry summer in the {p.n(197, 199)}0s had shown faint marks in the field, but nobody investigated them until the road survey began.",
        "method2": "The team used ground-penetrating radar to map the site before digging, and radiocarbon dating of charred grain and animal bone from the lowest layers gave the settlement's age.",
        "lede": f"Archaeologists have uncovered the remains of a farming settlement around {age:,} years old beneath a field on the outskirts of {town}, in what they describe as one of the most important finds in {region} in decades.",
        "method": f"The site, which covers about {words(acres)} acres, was discovered during a survey ahead of planned road works. Excavations over the past year have revealed the outlines of at least {words(p.n(5, 14))} round houses, a network of ditches and the remains of what appears to have been a grain store.",
        "result": f"More than {finds:,} objects have been recovered so far, including pottery, a bone comb, glass beads and a bronze brooch decorated with spirals. Charred grain found in the store suggests the inhabitants grew barley and an early form of wheat.",
        "hl": [f"Archaeologists uncover a {age:,}-year-old farming settlement beneath a field near {town}.", f"More than {finds:,} objects have been found, including pottery, beads and a bronze brooch."],
        "hl_caveat": "The planned road will be moved so that the site can be preserved.",
        "lead_q": ["We thought we might find a few pieces of pottery. Instead we found a whole village.", "Every time we open a new trench, the picture gets bigger. These people were farming this valley long before anyone wrote anything down."],
        "indep": "an archaeologist who has visited the site",
        "indep_q": "Settlements from this period are rare in the region, and it is even rarer to find one so well preserved. This will keep researchers busy for years.",
        "caveat": "Regional officials have agreed to move the route of the planned road about 300 yards to the east so that the site can be preserved. The change is expected to add several months to the project and to increase its cost.",
        "context": "Until now, most of what was known about early farming communities in the region came from a handful of burial sites. A settlement offers a far fuller picture of how people lived, what they ate and how they organised their homes.",
        "next": "Excavations will continue for at least two more seasons, and the most important finds are expected to go on display at the regional museum once they have been cleaned and studied.",
        "student": "found the bronze brooch on the last day of the season",
        "student_q": "I was about to pack up when I saw a flash of green in the soil. I shouted so loudly that the whole team came running.",
        "policy": "The site has been given temporary legal protection while officials decide whether it should be listed as a monument of national importance, which would limit any future building nearby.",
        "public": ["My grandfather ploughed that field for forty years and never had a clue.", "It gives you a real sense of how long people have been living here.", "The children at the primary school have been up to visit, and they haven't stopped talking about it.", "I'm glad they're moving the road. Some things are more important than saving ten minutes."],
        "fieldwork": "the excavation",
    }


def story_science(p: Pick, town: str, region: str) -> Story:
    fd = _finding(p, town, region)
    inst, journal = fd["inst"], fd["journal"]
    lead, indep, student, local, sceptic = p.person(), p.person(), p.person(), p.person(), p.person()
    indep_inst = p.one([u for u in UNIVERSITIES if u != inst])
    core = [
        f"{dateline(town, region)} {fd['lede']}",
        fd["method"],
        fd["result"] + f" The findings were published on {p.workday()} in {journal}.",
    ]
    extra = [
        (10, "lead", said(fd["lead_q"][0], f"said {lead.name}, who led the research at {inst}") + f' "{fd["lead_q"][1]}"'),
        (11, "indep", f"{indep.name}, {fd['indep']}, said the study was an important step. " + said(fd["indep_q"], f"said {indep.last}, who is based at {indep_inst}")),
        (20, "caveat", fd["caveat"]),
        (21, "student", f"{student.name}, a doctoral student who {fd['student']}, said the project had tested everyone's patience. " + said(fd["student_q"], f"{student.she} said")),
        (30, "context", fd["context"]),
        (31, "funding", f"The study was funded by the regional research council and a private foundation, and took about {words(p.n(2, 5))} years to complete. "
         f"The team of {p.n(8, 24)} researchers included scientists from {words(p.n(2, 5))} other institutions"
         + (f", and dozens of volunteers helped with {fd['fieldwork']}." if fd["fieldwork"] else ".")),
        (32, "review", f"The findings were checked by independent scientists before publication, a process that took almost {words(p.n(5, 11))} months. "
         "The researchers have made their data freely available so that other groups can test their conclusions."),
        (33, "institute", f"{cap(inst)}, founded in {p.n(1948, 1995)}, employs about {p.n(12, 60) * 10} researchers. It has expanded its work in {fd['field']} in recent years "
         f"with the help of a {money(p.f(4, 30))} grant from the regional government."),
        (34, "policy", fd["policy"]),
        (15, "method2", fd["method2"]),
        (25, "earlier", fd["earlier"]),
        (26, "sceptic", f"Not everyone is ready to draw firm conclusions. {sceptic.name}, who has worked in {fd['field']} for more than {p.n(15, 30)} years, said the team had been careful but that the results should be repeated by other groups. "
         + said("One study is a beginning, not an end. I would like to see someone else find the same thing before we rewrite the textbooks", f"{sceptic.she} said")),
        (37, "locals", "The team said it had relied heavily on local people, from landowners who gave permission to work on their property to volunteers who gave up weekends to help, and said the work could not have been done without them."),
        (38, "money_future", f"The group's current funding runs out at the end of next year. Its leaders have applied for a further grant of about {money(p.f(1, 4))} and say that without it several of the younger researchers on the team may have to leave."),
        (36, "schools", f"The team has made a short film about the research and plans to visit schools in {town} later this year. Researchers said they hoped the work would encourage local young people to consider careers in science."),
        (35, "local", f"News of the {'research' if not fd['fieldwork'] else 'discovery'} has caused a stir in {town}. {local.name}, who chairs the town's {fd['society']}, said it had arranged for members of the research team to give a public talk next month. "
         + said("People here are proud of it. We want to understand what has been found and what it means for the town", f"{local.she} said")),
    ]
    for i, text in enumerate(voices(p, town, fd["public"], 4)):
        extra.append((40 + i, f"voice{i}", text))
    if not fd["fieldwork"]:
        extra = [e for e in extra if e[1] != "locals"]
    extra.append((90, "next", fd["next"]))
    return Story(
        core,
        extra,
        [*fd["hl"], f"The findings are published in {journal}."],
        [("caveat", fd["hl_caveat"]), ("next", cap(fd["next"].split(",")[0].rstrip(".")) + ".")],
    )


# --------------------------------------------------------------------- sport


ORDINAL_WORDS = ["zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]


def ordinal_word(n: int) -> str:
    return ORDINAL_WORDS[n] if n < len(ORDINAL_WORDS) else ordinal(n)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


GOAL_HOW = [
    "curling a shot into the top corner from the edge of the area",
    "heading in a corner at the near post",
    "tapping in after the goalkeeper had parried a long-range shot",
    "converting a penalty after being tripped in the area",
    "finishing calmly after a swift counter-attack",
    "volleying in a clearance that fell kindly at the far post",
    "slotting the ball under the goalkeeper after a neat exchange of passes",
]


def _goals(p: Pick, win: str, lose: str, wg: int, lg: int, female: bool) -> list[str]:
    """Match narrative, one sentence per goal, with the score told from the scorer's side."""
    order = [win] * wg + [lose] * lg
    p.rng.shuffle(order)
    if order[-1] != win:  # the winner scores last, so the story ends on the decisive goal
        order.remove(win)
        order.append(win)
    minutes = sorted(p.some(range(3, 91), len(order)))
    score = {win: 0, lose: 0}
    hows = p.some(GOAL_HOW, min(len(order), len(GOAL_HOW)))
    out = []
    for i, (team, minute) in enumerate(zip(order, minutes)):
        other = lose if team == win else win
        before = score[team] - score[other]
        score[team] += 1
        scorer = p.person(female).name
        how = hows[i % len(hows)]
        if before == 0:
            verb = f"put {team} ahead"
        elif before < -1:
            verb = f"pulled one back for {team}"
        elif before == -1:
            verb = f"equalised for {team}"
        else:
            verb = f"made it {score[team]}-{score[other]}"
        last = i == len(order) - 1 and before == 0 and i > 0
        out.append(f"{scorer} {verb} in the {ordinal(minute)} minute{', scoring what proved to be the winner by ' if last else ', '}{how}.")
    return out


def story_sport(p: Pick, town: str, region: str) -> Story:
    if p.n(0, 2) == 0:
        return _story_race(p, town, region)
    other = p.town()
    suffixes = p.some(["Rovers", "Athletic", "United", "Wanderers", "Albion", "City"], 2)
    home, away = f"{town} {suffixes[0]}", f"{other} {suffixes[1]}"
    womens = p.rng.random() < 0.4
    home_wins = p.rng.random() < 0.6
    win, lose = (home, away) if home_wins else (away, home)
    wg = p.n(1, 4)
    lg = p.n(0, min(2, wg - 1))
    stadium = f"{p.one(['Mill Road', 'Harbour Lane', 'Castle Park', 'Ferry Meadow', 'Station Park'])}"
    crowd, wd = p.n(28, 190) * 100, p.weekday()
    league = ("Women's " if womens else "") + p.one(["Northern Premier Division", "Regional Championship", "County League"])
    pos, gap = p.n(1, 6), p.n(1, 8)
    place = "top of the table" if pos == 1 else f"{ordinal_word(pos)} place"
    goals = _goals(p, win, lose, wg, lg, womens)
    coach_w, coach_l, chair = p.person(), p.person(), p.person()
    keeper, captain, youth = p.person(womens), p.person(womens), p.person(womens)
    beat = p.one(["beat", "defeated", "saw off"])
    core = [
        f"{dateline(town, region)} {win} {beat} {lose} {wg}-{lg} at {stadium} on {wd}, a result that lifts them to {place} in the {league}.",
        " ".join(goals[:3]),
        f"A crowd of {crowd:,} watched the match, the largest at the ground this season.",
    ]
    extra: list[tuple[int, str, str]] = []
    if len(goals) > 3:
        core[1] += " " + " ".join(goals[3:])
    extra += [
        (10, "coach", f"{coach_w.name}, the {win} manager, praised {coach_w.her} side's character. "
         + said(p.one(["We knew it would be a battle and the players gave everything. I couldn't ask for more.", "That's the best we've played all season, and we needed every bit of it.", "We made it hard for ourselves at times, but the spirit in that dressing room is special."]), f"{coach_w.she} said")),
        (11, "loser", f"{coach_l.name}, in charge of {lose}, said {coach_l.her} team had been punished for their mistakes. "
         + said(p.one(["We gave away cheap goals, and at this level you can't do that.", "There's no point hiding from it. We weren't good enough today.", "I thought we deserved something from the game, but football doesn't work like that."]), f"{coach_l.she} said")),
        (20, "chance", f"{lose} had chances of their own. {keeper.name}, the {win} goalkeeper, made a fine save from a header in the first half and was relieved to see a late shot from the edge of the area flash just wide of the post."),
        (21, "table", f"The win leaves {win} {words(gap)} points {'clear at the top of' if pos == 1 else 'behind the leaders in'} the {league} with {words(p.n(5, 14))} matches remaining. {lose} stay {ordinal_word(p.n(7, 16))}, "
         f"and their supporters will be anxious about a run of {words(p.n(3, 6))} games without a win."),
        (22, "captain", f"{captain.name}, the {win} captain, said the team had been written off too early in the season. " + said("People had us down as relegation candidates in August. We've used that as fuel, and we'll keep going", f"{captain.she} said")),
        (23, "injury", f"The only worry for {win} was an injury to their {p.one(['left back', 'central midfielder', 'striker', 'centre back'])}, who limped off shortly after half-time with what appeared to be a hamstring problem. "
         "The club said the player would have a scan early next week."),
        (30, "history", f"The fixture is one of the oldest in the region. The clubs first met in {p.n(1889, 1921)}, and the rivalry has been fierce ever since, with {home} winning {p.n(40, 80)} of the previous meetings and {away} {p.n(35, 75)}."),
        (31, "club", f"{win} have been transformed off the field over the past two years. {chair.name}, who chairs the club, oversaw a {money(p.f(1.5, 6))} refurbishment of the ground and a new academy for young players, several of whom have already made their first-team debuts."),
        (32, "finances", f"Both clubs depend heavily on ticket sales and volunteers. A crowd of this size brings in more than {money(p.f(0.1, 0.4))} for a single match, officials said, and the home club's bar and kitchen are staffed almost entirely by supporters who give their time for free."),
        (24, "subs", f"The {win} manager made a double substitution just before the hour, bringing on two younger players whose pace troubled the {lose} defence. "
         f"It changed the rhythm of the game, and the {win} supporters, quiet for long spells, found their voice."),
        (25, "referee", f"There was controversy in the {ordinal(p.n(60, 85))} minute when the referee waved away appeals for a penalty after a challenge on a {lose} forward. "
         f"Replays appeared to show contact, and the {lose} bench protested so furiously that one of its coaches was sent to the stand."),
        (26, "youth", f"{youth.name}, {p.n(17, 20)}, who came through the {win} academy, made only {youth.her} {ordinal_word(p.n(2, 6))} league start and was one of the best players on the pitch, "
         "winning the ball back again and again in midfield and drawing warm applause when substituted late on."),
        (27, "pitch", "Heavy rain before kick-off left parts of the pitch waterlogged, and groundstaff worked with forks throughout the warm-up to clear standing water. "
         "The referee inspected the surface twice before deciding that the match could go ahead."),
        (28, "form", f"{win} have now won {words(p.n(4, 6))} of their last {words(p.n(7, 8))} matches and have not lost at home since {p.month()}. Their defensive record is among the best in the division."),
        (29, "growth", f"Interest in the {league} has grown rapidly in recent seasons. Average crowds have risen by about a third, and a regional broadcaster now shows {words(p.n(1, 3))} matches live every weekend."),
        (34, "tickets", f"Tickets sold out within {words(p.n(2, 6))} days, and the home club put up a big screen in the car park for supporters who had missed out. "
         "Officials said they would consider moving future derbies to a larger ground if demand continued to grow."),
        (33, "police", f"Police said the match passed off peacefully. About {p.n(4, 12) * 10} officers were on duty around the ground, and {p.one(['no arrests were made', 'one man was arrested for a minor public order offence', 'two people were arrested, both for minor offences'])}."),
    ]
    fans = [
        "I've been coming here since I was six, and I can't remember an atmosphere like that.",
        "We were nervous after the first half, but this team never gives up.",
        "Honestly, I'm exhausted. I've got no voice left.",
        "The manager deserves a lot of credit. Nobody expected this at the start of the season.",
        "It's the derby. You'd take a win any way it comes.",
    ]
    for i, text in enumerate(voices(p, town, fans, 4, jobs=["season-ticket holder", "lifelong supporter", "club volunteer"], place=f"{stadium} after the final whistle")):
        extra.append((40 + i, f"voice{i}", text))
    next_opp = f"{p.town()} {p.one(['Town', 'Rangers', 'Harriers'])}"
    extra.append((90, "next", f"{win} travel to {next_opp} on {p.weekday()}, while {lose} are at home to the league leaders the following weekend."))
    return Story(
        core,
        extra,
        [
            f"{win} beat {lose} {wg}-{lg} in the {league}.",
            f"The win lifts {win} to {place}.",
            f"A crowd of {crowd:,} watched the match, the ground's biggest this season.",
        ],
        [("coach", f"{coach_w.name} praises {coach_w.her} side's character."), ("next", f"{win} play {next_opp} next.")],
    )


def _story_race(p: Pick, town: str, region: str) -> Story:
    female = p.rng.random() < 0.5
    race = "women's race" if female else "men's race"
    winner, second, local = p.person(female), p.person(female), p.person(female)
    director, medic, mayor = p.person(), p.person(), p.person()
    local_place = p.n(3, 10)
    runners, raised = p.n(30, 140) * 100, p.f(0.3, 2.5)
    mins, secs = p.n(8, 14), p.n(0, 59)
    record_by = p.n(4, 70)
    margin = p.n(6, 90)
    home = p.one(["the Orrin Highlands", "Northmoor", "the Vell Valley", "Calder Province"])
    wd = p.weekday()
    core = [
        f"{dateline(town, region)} {winner.name} won the {race} at the {town} Marathon on {wd} in 2 hours {mins + (10 if female else 0)} minutes and {secs} seconds, breaking the course record by {record_by} seconds on a cool, still morning.",
        f"{winner.last}, {p.n(23, 34)}, pulled away from a small leading group after about 20 miles and crossed the line {margin} seconds ahead of {second.name}, who finished second for the second year running.",
        f"A record {runners:,} people took part in the race and its shorter events, and organisers said runners had raised about {money(raised)} for charity.",
    ]
    extra = [
        (10, "winner", f"{winner.last} said {winner.she} had planned to run conservatively until the final miles. "
         + said(p.one(["I was worried I had gone too early, but the crowd on the seafront carried me home.", "My coach told me to be patient. For once, I listened.", "I've been thinking about this course for a year. To break the record here means a lot."]), f"{winner.she} said")),
        (11, "second", f"{second.name} said {second.she} had no regrets. " + said("I tried to go with the move, but there was nothing left in my legs. The better runner won today", f"{second.she} said")),
        (20, "course", "The course starts outside the old town hall, follows the river inland for about ten miles and returns along the coast road. The organisers changed the route this year to remove a steep climb near the halfway mark, "
         "a decision that some experienced runners had criticised but that may have helped produce the fast times."),
        (21, "local", f"The first local finisher was {local.name}, a {p.one(['nurse', 'secondary school teacher', 'firefighter', 'postal worker'])} from {town}, who finished {ordinal_word(local_place)} in the {race}. "
         + said("I train on these roads every morning before work. To finish that high up with the whole town shouting my name was unbelievable", f"{local.she} said")),
        (22, "medical", f"{medic.name}, the race's medical director, said {p.n(20, 90)} runners were treated by medical teams along the course, mostly for blisters, cramp and exhaustion. {cap(words(p.n(1, 4)))} were taken to hospital as a precaution."),
        (23, "roads", "Several roads in the town centre were closed from early morning until mid-afternoon. Bus routes were diverted, and residents along the route were asked to move their cars the night before."),
        (30, "history", f"The race was first held in {p.n(1978, 1996)} with fewer than {p.n(2, 6) * 100} runners. It has grown steadily since, and it is now one of the largest sporting events in {region}, bringing thousands of visitors to hotels, cafes and shops."),
        (31, "organiser", f"{director.name}, the race director, said demand for places had never been higher. " + said("We sold out in less than a week. We're looking at whether the town can cope with more runners next year, because we'd love to say yes to everyone", f"{director.she} said")),
        (32, "charity", f"Among the charities to benefit is the {town} hospice, which had {p.n(80, 400)} runners raising money on its behalf. Many wore photographs of relatives on their vests, and some ran in fancy dress, including a team of {words(p.n(6, 12))} dressed as a lighthouse."),
        (33, "winner_bg", f"{winner.last}, who is from {home}, took up running seriously only {words(p.n(4, 9))} years ago after playing football as a teenager. {cap(winner.she)} now trains with a club in the regional capital and has said that {winner.her} aim is to be selected for the national team."),
        (24, "conditions", "Conditions were close to ideal, with temperatures in the low fifties and barely a breath of wind along the exposed coastal section, which in previous years has left runners battling a headwind over the final miles."),
        (25, "volunteers", f"About {p.n(6, 15) * 100} volunteers staffed drinks stations, marshalled junctions and handed out medals at the finish. Many have helped every year, and some now bring their children and grandchildren along."),
        (27, "elite", f"The elite field included runners from {words(p.n(6, 14))} countries, several of whom had been attracted by a prize fund that has doubled in the past three years. Organisers also paid a bonus of ${p.n(5, 20) * 1000:,} for breaking the course record."),
        (28, "nurses", f"Among the charity runners was a team of {words(p.n(8, 16))} nurses from {town} General Hospital, who ran the whole course together in uniform and crossed the line holding hands. They had raised more than ${p.n(10, 40) * 1000:,} for the hospital's children's ward."),
        (29, "trains", "Extra trains ran from the regional capital early in the morning, and the station was so busy after the race that staff had to close the entrance for short periods to prevent overcrowding on the platforms."),
        (26, "oldest", f"The oldest finisher was {p.n(79, 86)}, a retired postman who has run every edition of the race. He crossed the line in a little under five and a half hours to one of the loudest cheers of the day."),
        (34, "mayor", f"Mayor {mayor.name} said the marathon had become one of the highlights of the town's year. " + said("It shows this town at its best. Thousands of people out on the streets, cheering on complete strangers", f"{mayor.she} said")),
    ]
    crowd_q = [
        "My partner ran it for the first time today. I couldn't be prouder.",
        "We come out every year with our flask and our cowbells. It's the best day of the year in this town.",
        "I ran it myself ten years ago, so I know exactly how much those last few miles hurt.",
        "The kids made a sign and the runners kept waving at them. They'll remember that for ever.",
    ]
    for i, text in enumerate(voices(p, town, crowd_q, 4, place="the finish line")):
        extra.append((40 + i, f"voice{i}", text))
    extra.append((90, "next", f"Organisers said entries for next year's race would open in {p.month()}, and that they hoped to add a wheelchair race to the programme."))
    return Story(
        core,
        extra,
        [
            f"{winner.name} wins the {race} at the {town} Marathon in 2:{mins + (10 if female else 0):02d}:{secs:02d}, a course record.",
            f"{second.name} finishes second, {margin} seconds behind.",
            f"A record {runners:,} people take part, raising about {money(raised)} for charity.",
        ],
        [("local", f"{local.name} is the first local finisher, in {ordinal_word(local_place)} place.")],
    )


# ------------------------------------------------------------------ business

COMPANIES = [
    "Quillmark Pumps", "Brightfold Energy", "Tessaly Pharmaceuticals", "Harrowgate Foods", "Norrland Glassworks",
    "Veltrane Motors", "Kestrel Tools", "Amberline Textiles", "Saltire Components", "Meridale Packaging",
]


def story_business(p: Pick, town: str, region: str) -> Story:
    company = p.one(COMPANIES)
    ceo, analyst, union, worker_rep, mayor, supplier = p.person(), p.person(), p.person(), p.person(), p.person(), p.person()
    analyst_b = p.person()
    bank = p.one(["Halvern Securities", "Northmoor Capital", "Calder & Reid"])
    choice = p.n(0, 2)
    if choice == 0:
        jobs, cost, months = p.n(12, 90) * 10, p.n(30, 240), p.n(12, 30)
        product = p.one(["electric motors", "medical supplies", "recycled packaging", "solar panel frames", "ready meals"])
        core = [
            f"{dateline(town, region)} {company} said on {p.workday()} that it would build a {money(cost)} factory in {town}, creating about {jobs} jobs in a town that has struggled since its largest employer closed.",
            f"The plant, which will make {product}, is due to open in about {months} months on a site at the business park on the edge of town. The company said most of the jobs would be filled locally and that it would run a training programme with the regional college.",
            f"The regional government is contributing {money(cost * p.f(0.08, 0.2, 2))} towards the project through a grant for manufacturers that invest in areas with high unemployment.",
        ]
        hl = [
            f"{company} will build a {money(cost)} factory in {town}, creating about {jobs} jobs.",
            f"The plant will make {product} and is due to open in about {months} months.",
            "The regional government is contributing a grant towards the cost.",
        ]
        ceo_q = ["We looked at sites across the country, and we kept coming back here. The skills are here, and so is the ambition.", "This is a long-term commitment. We intend to be in this town for decades."]
        specific = [
            (20, "closure", f"Unemployment in {town} has been above the regional average since the closure of the {p.one(['steelworks', 'paper mill', 'car parts plant', 'shipyard'])} in {p.n(2008, 2018)}, which cost about {p.n(8, 25) * 100:,} jobs. Many younger residents have since left to find work elsewhere."),
            (21, "college", "The principal of the regional college said it would begin enrolling students on a new course in factory engineering in the autumn. "
             + said("For years we have trained young people for jobs they had to leave town to find. Now they can stay", "she said")),
            (22, "suppliers", f"{supplier.name}, who runs a small engineering firm in {town}, said local suppliers were hoping to win contracts from the new plant. "
             + said("One big employer brings a lot of smaller businesses with it. That's what this town has been missing", f"{supplier.she} said")),
        ]
        public: list[Quote] = [
            "My son moved away for work three years ago. Maybe this means he can come home.",
            "It's the best news this town has had in a long time.",
            ("former factory worker", "I'll be applying. I worked at the old plant for twenty years and I still know my way around a factory floor."),
            "Let's hope they mean it this time. We've had promises before.",
        ]
        tagged = [("college", "The regional college will start a new course to train workers.")]
    elif choice == 1:
        jobs, total = p.n(15, 80) * 10, p.n(9, 40) * 100
        core = [
            f"{dateline(town, region)} {company} plans to cut about {jobs} jobs at its plant in {town}, blaming falling orders and rising energy costs, in a blow to one of the town's largest employers.",
            f"The company, which employs about {total:,} people at the site, said the cuts would be made over the next year and that it would try to avoid compulsory redundancies by offering early retirement and voluntary severance.",
            "Union officials called the announcement a betrayal and said they would ask the company to delay the cuts while alternatives were discussed.",
        ]
        hl = [
            f"{company} plans to cut about {jobs} jobs at its plant in {town}.",
            "The company blames falling orders and rising energy costs.",
            "Unions call the cuts a betrayal and want them delayed while alternatives are discussed.",
        ]
        ceo_q = ["This is a decision we have taken with great reluctance. Our priority now is to treat every affected colleague with respect.", "The market has changed faster than any of us expected, and we have to change with it if the site is to have a future."]
        specific = [
            (20, "union", f"{union.name}, the regional organiser for the main union at the plant, said members had been told of the cuts at a meeting only an hour before they were announced publicly. "
             + said("People have given this company their whole working lives. They deserved better than this", f"{union.she} said")),
            (21, "orders", f"{company} said orders had fallen by about {p.n(12, 35)} percent over the past year, as customers delayed new projects, and that its energy bill had more than doubled over the same period."),
            (22, "support", f"The regional government said it would send a team to {town} to help affected workers find new jobs or training, and town officials said they would lobby for help for local businesses that supply the plant."),
        ]
        public = [
            "My partner has worked there for twenty-two years. We don't know what we're going to do.",
            "Everybody in this town knows somebody who works at that plant. It's going to hit all of us.",
            "We've seen this before. First it's a few hundred jobs, then the whole site is gone.",
            "I hope the voluntary scheme is enough. Nobody wants to be pushed out.",
        ]
        tagged = [("union", f"Union organiser {union.name} says workers deserved better.")]
    else:
        change, revenue = p.n(8, 40), p.n(3, 40) * 10
        up = p.rng.random() < 0.6
        core = [
            f"{dateline(town, region)} {company}, one of {possessive(region)} largest employers, reported a {change} percent {'rise' if up else 'fall'} in annual profit on {p.workday()}, {'helped by strong demand from overseas customers' if up else 'hit by weaker sales and higher costs'}.",
            f"Revenue for the year came to {money(revenue)}. The company, which is based in {town}, said it would {'raise its dividend and hire about ' + str(p.n(5, 30) * 10) + ' more staff' if up else 'freeze hiring and review its spending on new projects'} over the coming year.",
            f"Shares in the company {'rose' if up else 'fell'} {p.f(2, 9)} percent in early trading after the results were published.",
        ]
        hl = [
            f"{possessive(company)} annual profit {'rises' if up else 'falls'} {change} percent.",
            f"Revenue for the year comes to {money(revenue)}.",
            f"Shares {'rise' if up else 'fall'} after the results are published.",
        ]
        ceo_q = (["Our people have delivered an excellent year in a difficult market.", "We are investing for growth, and this town will be at the heart of it."]
                 if up else ["This has been a challenging year, and we are not satisfied with these results.", "We are taking firm action on costs, and I am confident we will return to growth."])
        specific = [
            (20, "analyst_detail", f"{'The improvement was driven largely by exports, which now account for more than half of sales.' if up else 'Sales fell most sharply in its home market, where customers have cut back on spending.'} "
             "The company also said it had reduced its debt during the year."),
            (21, "outlook", f"For the coming year, {company} said it expected conditions to remain {'favourable' if up else 'difficult'}, though it warned that energy prices and interest rates were hard to predict."),
            (22, "staff", f"{worker_rep.name}, who represents staff on the company's works council, said employees would be watching closely. " + said("When times are good, we expect to share in it. When they are hard, we expect to be told the truth", f"{worker_rep.she} said")),
        ]
        public = [
            "Half the street works there in one way or another. When they do well, the whole town does well.",
            "I just hope it means more apprenticeships for the young ones.",
            "They've always been a decent employer, and they've been good to this town.",
            "Good news for once. The town could do with it.",
        ]
        tagged = [("outlook", f"{company} says conditions will remain {'favourable' if up else 'difficult'}.")]
    extra = [
        (10, "ceo", said(ceo_q[0], f"said {ceo.name}, {possessive(company)} chief executive") + f' "{ceo_q[1]}"'),
        (11, "analyst", f"{analyst.name}, an analyst at {bank}, said the announcement reflected wider pressures on manufacturers across the region. "
         + said(p.one(["Companies are having to make hard choices about where they invest, and small towns feel those choices most.", "The fundamentals here are sound, but nobody is immune to what is happening in the wider economy.", "Investors will want to see a clear plan for the next two or three years."]), f"{analyst.she} said")),
        *specific,
        (30, "history", f"{company} was founded in {town} in {p.n(1921, 1978)} as a small family business and now has operations in {words(p.n(3, 12))} countries. It remains one of the largest private employers in {region}."),
        (31, "profile", town_profile(p, town, region, growing=False if choice == 0 else None)),
        (32, "economy", f"The regional economy has grown slowly over the past year. Figures published last month showed unemployment in {region} at {p.f(4.0, 8.5)} percent, compared with {p.f(3.5, 5.5)} percent nationally, and business surveys have pointed to weak investment."),
        (33, "mayor", f"Mayor {mayor.name} said the council would work with the company and with other employers. " + said("Our job is to make this town a place where businesses want to stay and grow, and where people can build a career", f"{mayor.she} said")),
        (35, "site", f"The {company} site in {town} covers about {p.n(20, 90)} acres on the edge of town, with its own rail siding and a training centre. About a {p.one(['third', 'quarter'])} of its staff live within walking distance, "
         "and the company has long sponsored local sports clubs and school prizes."),
        (36, "apprentices", f"{company} takes on about {p.n(15, 60)} apprentices a year, most of them school leavers from {town} and the surrounding villages. The apprenticeship scheme is regarded as one of the best in the region, and several of the company's senior managers began their careers on it."),
        (37, "investor", f"{analyst_b.name}, who manages a fund that owns shares in {company}, said the company's long-term prospects remained sound. "
         + said("This is a well-run business with loyal customers. What investors want now is clarity about the plan for the next few years", f"{analyst_b.she} said")),
        (38, "rivals", f"Other manufacturers in {region} have faced similar pressures. Two smaller firms announced job cuts earlier in the year, and a business survey published last month found that fewer than half of manufacturers expected to increase their workforce in the coming year."),
        (39, "customers", f"Most of {possessive(company)} customers are other businesses, including retailers, builders and hospitals, and about {p.n(25, 60)} percent of its sales are made abroad. "
         "The company has said it wants to rely less on a small number of very large contracts."),
        (40, "rates", f"The company is the largest single payer of business rates in {town}, and council officials said any change in its fortunes would be felt in the town's budget. "
         f"A council report last year estimated that the plant supports about {p.n(8, 30) * 100:,} further jobs among suppliers, hauliers and shops."),
        (41, "environment", f"{company} has promised to halve the carbon emissions of its {town} operations within a decade and installed solar panels across its warehouse roofs last year. "
         "Environmental groups welcomed the pledge but said progress should be checked independently."),
        (42, "family", "A member of the founding family who still sits on the board said the family remained committed to the town. "
         + said(f"My grandfather started this business in a shed behind his house. Whatever happens, that connection with {town} will not be broken", "he said")),
        (34, "energy", "Manufacturers in the region have been particularly exposed to higher energy prices, because many of them operate older plants that use large amounts of gas and electricity. Several have applied for government help to install more efficient equipment."),
    ]
    for i, text in enumerate(voices(p, town, public, 4, jobs=["machine operator", "forklift driver", "maintenance engineer", "shift supervisor", "retired engineer", "cafe owner"], place="the plant gates")):
        extra.append((50 + i, f"voice{i}", text))
    return Story(core, extra, hl, tagged)


# -------------------------------------------------------------------- courts


def story_courts(p: Pick, town: str, region: str) -> Story:
    court = f"{town} Crown Court" if p.rng.random() < 0.5 else f"{region.removeprefix('the ')} District Court"
    judge, prosecutor, defence, victim, expert, officer = p.person(), p.person(), p.person(), p.person(), p.person(), p.person()
    days, jurors_out = p.n(4, 19), p.n(3, 11)
    choice = p.n(0, 2)
    if choice == 0:
        accused = p.person()
        org = p.one([f"{town} Rugby Club", f"the {town} Community Trust", f"{town} Rowing Club", f"the {town} Food Bank"])
        amount, years, sentence = p.n(120, 900) * 1000, p.n(4, 9), p.n(2, 6)
        role = p.one(["treasurer", "finance manager", "bookkeeper"])
        core = [
            f"{dateline(town, region)} The former {role} of {org} was sentenced to {words(sentence)} years in prison on {p.workday()} after a jury found {'her' if accused.female else 'him'} guilty of stealing {money(amount / 1e6)} from the organisation over {words(years)} years.",
            f"{accused.name}, {p.n(38, 66)}, transferred the money into {accused.her} own accounts in hundreds of small payments, disguising them as invoices from suppliers that did not exist, the court heard. The jury at {court} reached its verdict after deliberating for {words(jurors_out)} hours.",
            "The theft came to light when a new auditor noticed that several suppliers listed in the accounts had no address or telephone number, and alerted police.",
        ]
        hl = [
            f"The former {role} of {org} is jailed for {words(sentence)} years.",
            f"{accused.name} stole {money(amount / 1e6)} over {words(years)} years, using invoices from suppliers that did not exist.",
            "The theft was discovered by a new auditor.",
        ]
        judge_q = "You were trusted by people who gave their time and money to a good cause, and you betrayed that trust for your own comfort."
        pro_q = f"This was a calculated and sustained fraud. {accused.first} {accused.last} knew exactly what {accused.she} was doing, and {accused.she} did it for years."
        def_q = f"My client accepts the jury's verdict and is deeply ashamed. {cap(accused.she)} has lost {accused.her} reputation, {accused.her} friends and {accused.her} home."
        victim_line = f"{victim.name}, who chairs {org}, said the theft had forced it to cancel {p.one(['a planned extension to its clubhouse', 'two years of youth programmes', 'a new delivery van'])} and to ask members for emergency donations. "
        victim_q = "We are a small organisation run by volunteers. Every dollar of that money was raised by people in this town, at bake sales and sponsored walks."
        detail = [
            (20, "spending", f"Prosecutors said the money had been spent on holidays, a car and home improvements. {accused.last} told the court that {accused.she} had intended to pay it back and had become trapped by debts, a claim the prosecution described as implausible given the scale of the theft."),
            (21, "recovery", f"The court will hold a separate hearing in {p.month()} to decide how much of the money can be recovered from {possessive(accused.last)} assets, which include a share of a house in {town} and a pension."),
            (23, "references", f"The court heard character references from former colleagues, who described {accused.last} as hard-working and generous with {accused.her} time. The judge said those references had been taken into account but could not outweigh the length and scale of the deception."),
            (24, "law", "Under the law, theft by someone in a position of trust is treated as an aggravating factor, and judges are expected to consider the harm done to an organisation as well as the amount taken."),
            (25, "timeline", f"The first false payment was made in {p.n(2012, 2016)}, the court heard. The amounts grew steadily, and by the final year {accused.last} was taking money almost every week. {cap(accused.she)} was arrested at {accused.her} home the day after the auditor's report was passed to police."),
            (26, "advice", "Police said the case was a reminder that small organisations were just as vulnerable to fraud as large companies, and urged clubs and charities to make sure that no single person controlled their finances."),
            (22, "controls", f"{org} has since changed its rules so that two people must approve every payment, and its accounts are now checked by an independent firm every quarter. An accountant who advises community groups said such checks were simple and cheap, and that many small organisations still did not have them."),
        ]
        tagged = [("recovery", "A separate hearing in the coming months will decide how much money can be recovered.")]
    elif choice == 1:
        firm = p.one(COMPANIES)
        river = p.one(RIVERS)
        fine, fish, miles = p.f(0.4, 4.5), p.n(20, 120) * 100, p.f(2, 9)
        core = [
            f"{dateline(town, region)} {firm} has been fined {money(fine)} for polluting the {river}, after a leak from its plant near {town} killed an estimated {fish:,} fish along {miles} miles of river.",
            f"The company admitted allowing chemical waste to escape from a storage tank over a weekend in {p.month()} last year. A judge at {court} said the leak had been caused by a faulty valve that the company had known about for months but had not repaired.",
            f"The fine is among the largest ever imposed for an environmental offence in {region}. The company was also ordered to pay the cost of the investigation and to fund a programme to restock the river with fish.",
        ]
        hl = [
            f"{firm} is fined {money(fine)} for polluting the {river}.",
            f"The leak killed an estimated {fish:,} fish along {miles} miles of river.",
            "A judge says the company had known about a faulty valve for months.",
        ]
        judge_q = "This was not an unforeseeable accident. The company was warned, it did nothing, and the river paid the price."
        pro_q = "Companies that handle dangerous chemicals have a duty to look after them properly. This case shows what happens when they do not."
        def_q = f"{firm} deeply regrets this incident and has apologised to the community. It has spent heavily on new equipment to make sure it can never happen again."
        victim_line = f"{victim.name}, who chairs the local anglers' association, said the river had still not fully recovered. "
        victim_q = "We used to see trout rising all along that stretch on a summer evening. Now you are lucky to see one."
        detail = [
            (20, "discovery", f"The pollution was first reported by a dog walker who noticed dead fish floating near a footbridge on the edge of {town}. Environmental officers traced the source upstream to the plant within a few hours, but by then the chemical had spread several miles."),
            (21, "restock", f"The restocking programme, which will be overseen by the regional environment agency, is expected to take at least {words(p.n(3, 6))} years. Scientists will monitor insects and plants along the river to judge whether it is recovering."),
            (23, "law", "Fines for environmental offences are set according to the size of the company, the harm caused and how far the company was to blame. Judges have been told to make fines large enough to be felt by the company's shareholders and managers."),
            (24, "anglers", f"The local anglers' association, which leases fishing rights along part of the {river}, said its members had lost a whole season and that some had given up their memberships. It has asked for part of the fine to be spent on the river itself."),
            (25, "timeline", f"An engineer at the plant first reported the faulty valve {words(p.n(4, 9))} months before the leak, the court heard, but a request for a replacement was delayed while managers looked for a cheaper supplier. The leak began on a Friday night and was not noticed until the following Monday morning."),
            (26, "advice", "The regional environment agency said it had increased inspections of sites that store chemicals near rivers, and urged members of the public to report dead fish or unusual discolouration of the water immediately."),
            (22, "company_changes", f"Lawyers for {firm} told the court that the company had replaced all of the storage tanks at the plant, installed an alarm system and appointed a new environmental manager since the leak."),
        ]
        tagged = [("restock", "The company must also pay to restock the river with fish.")]
    else:
        landlord = p.one(["Redmere Estates", "Caldwell Property Group", "Ashgrove Lettings"])
        tenants, payout, flats = p.n(30, 140), p.f(0.8, 6), p.n(40, 200)
        core = [
            f"{dateline(town, region)} A landlord that owns {flats} flats in {town} has agreed to pay {money(payout)} to settle a lawsuit brought by {tenants} tenants who said they were left for years in homes with damp, mould and broken heating.",
            f"The settlement, approved by a judge at {court} on {p.workday()}, also requires {landlord} to carry out repairs to every flat in the {p.one(['Westgate', 'Riverside', 'Orchard'])} estate within {words(p.n(12, 18))} months, under the supervision of an independent surveyor.",
            "The company did not admit any wrongdoing as part of the agreement.",
        ]
        hl = [
            f"{landlord} agrees to pay {money(payout)} to settle a lawsuit brought by {tenants} tenants in {town}.",
            "Tenants said they lived for years with damp, mould and broken heating.",
            "The landlord must repair every flat under an independent surveyor's supervision.",
        ]
        judge_q = "Everyone is entitled to a home that is safe and warm. I hope this agreement brings that a little closer for these families."
        pro_q = "Our clients complained again and again, and for years nothing happened. It took a court case to get the repairs done."
        def_q = f"{landlord} is pleased to have resolved this matter and is committed to providing high-quality homes for all its tenants."
        victim_line = f"{victim.name}, one of the tenants who brought the case, said {victim.her} {p.one(['son', 'daughter'])} had developed asthma while living in the flat. "
        victim_q = "Every winter the walls went black. We scrubbed them every week, and every week it came back."
        detail = [
            (20, "evidence", f"Court documents included photographs of mould on bedroom walls, ceilings stained by leaking pipes and windows that could not be closed. A surveyor hired by the tenants found problems in {p.n(60, 90)} percent of the flats he inspected."),
            (21, "council", "The council, which is responsible for enforcing housing standards, was criticised during the case for failing to act on complaints. A council spokesperson said it had since hired more inspectors and would review how it handles reports about private landlords."),
            (23, "groups", "Tenants' rights groups said the case was unusual because so few complaints about poor housing ever reach court. Legal aid for housing cases has been cut in recent years, they said, leaving many tenants unable to afford a lawyer."),
            (24, "landlord_bg", f"{landlord} bought the estate about {words(p.n(6, 15))} years ago and owns several other blocks of flats in {region}. It has said that it spends millions of dollars a year on maintenance and that many of the problems date from before its ownership."),
            (25, "timeline", f"Tenants first complained in writing about damp in {p.n(2013, 2017)}, according to court documents. A residents' association was formed two years later, and the lawsuit was filed after a council inspection found that several flats were unfit to live in."),
            (26, "advice", "Housing advisers said tenants with similar problems should keep a written record of every complaint, take dated photographs and contact the council's housing team, which has the power to order repairs."),
            (22, "payout", f"Under the agreement, each household will receive a payment based on how long it lived in the estate and the condition of its flat. The largest single payment is expected to be about {money(payout / tenants * 3)}."),
        ]
        tagged = [("council", "The council, criticised during the case, says it has hired more housing inspectors.")]
    extra = [
        (10, "judge", f"Judge {judge.name} said: \"{judge_q}\""),
        (11, "prosecutor", said(pro_q, f"said {prosecutor.name}, {'who led the prosecution' if choice < 2 else 'a lawyer for the tenants'}")),
        (12, "defence", f"{defence.name}, representing the {'defendant' if choice == 0 else 'company' if choice == 1 else 'landlord'}, said: \"{def_q}\""),
        (13, "victim", victim_line + said(victim_q, f"{victim.she} said")),
        *detail,
        (30, "trial", f"The case lasted {words(days)} days, during which the court heard from {p.n(6, 24)} witnesses and examined hundreds of pages of documents. Members of the public filled the gallery on most days."),
        (31, "officer", f"{officer.name}, who led the investigation, said it had been one of the most complex of {officer.her} career. "
         + said("It took months of careful work to piece together what happened. I hope today's result shows that these cases are taken seriously", f"{officer.she} said")),
        (32, "expert", f"{expert.name}, a law professor at {p.one(UNIVERSITIES)}, said the outcome was in line with recent cases in the region. "
         + said("The courts have become much less willing to treat this kind of conduct as a minor matter", f"{expert.she} said")),
        (33, "profile", town_profile(p, town, region)),
        (34, "attention", f"The case attracted wide attention in {town}, where local reporters followed every day of the hearings and a community group held a meeting to discuss what had happened. Several people who had followed the proceedings said they were relieved that it was over."),
        (36, "gallery", f"There were gasps in the public gallery as the {'verdict' if choice == 0 else 'decision'} was read out. Several people who had followed the case from the start embraced outside the courtroom, "
         f"and one {['club member', 'angler', 'tenant'][choice]} said simply that justice had been done."),
        (35, "cost_case", f"Court officials estimated that the case had cost the public about {money(p.f(0.1, 0.6))}, including the investigation, the hearings and the fees of expert witnesses."),
    ]
    public = [
        "It's shocking. You'd never expect something like this to happen here.",
        "I'm glad it's over, but nothing will make up for what people went through.",
        "I hope this sends a message. People have to be held to account.",
        "Everybody in town has been following the case. It's all anyone talked about at work.",
    ]
    for i, text in enumerate(voices(p, town, public, 4, place="the court")):
        extra.append((40 + i, f"voice{i}", text))
    extra.append((90, "appeal", [
        f"{accused.last} has {p.n(14, 28)} days to lodge an appeal." if choice == 0 else "",
        f"{firm} has {p.n(14, 28)} days to appeal against the fine, but its lawyers indicated that it was unlikely to do so." if choice == 1 else "",
        "Lawyers for the tenants said they would return to court if the repairs were not completed on time.",
    ][choice]))
    return Story(core, extra, hl, tagged)


# -------------------------------------------------------------------- health


def story_health(p: Pick, town: str, region: str) -> Story:
    official, doctor, patient, manager, expert, mayor = p.person(), p.person(), p.person(), p.person(), p.person(), p.person()
    nurse = p.person()
    authority = f"{region.removeprefix('the ')} Health Authority"
    hospital = f"{town} General Hospital"
    choice = p.n(0, 2)
    if choice == 0:
        cases, hosp, rate, target = p.n(18, 140), p.n(2, 15), p.n(78, 88), 95
        core = [
            f"{dateline(town, region)} Health officials in {region} have urged parents to make sure their children are vaccinated after an outbreak of measles in {town} grew to {cases} confirmed cases.",
            f"Most of those infected are children under ten who had not received both doses of the vaccine, the {authority} said. {cap(words(hosp))} have been treated in hospital, and the authority said it expected more cases in the coming weeks.",
            f"Vaccination rates among young children in {town} have fallen to about {rate} percent, well below the {target} percent that experts say is needed to stop the disease from spreading.",
        ]
        hl = [
            f"A measles outbreak in {town} grows to {cases} confirmed cases.",
            f"Most cases are children under ten who had not been fully vaccinated; {words(hosp)} have needed hospital treatment.",
            f"Vaccination rates have fallen to about {rate} percent, below the {target} percent needed to stop the spread.",
        ]
        off_q = ["Measles is not a mild illness. It can cause pneumonia and brain swelling, and it spreads faster than almost any other disease we know.", "The vaccine is safe and it works. If your child has missed a dose, it is not too late."]
        specific = [
            (20, "clinics", f"Extra vaccination clinics have been set up at {words(p.n(3, 8))} schools and at the {town} library, and family doctors have been asked to contact parents whose children are overdue. More than {p.n(4, 20) * 100:,} doses were given in the first week."),
            (21, "schools", "Children who are not vaccinated and who have been in contact with an infected person have been asked to stay away from school for up to three weeks, a measure some parents have criticised as disruptive."),
            (23, "symptoms", "Measles usually begins with a fever, a runny nose and red, watery eyes, followed a few days later by a rash that spreads from the face down the body. Officials asked anyone with symptoms to telephone their doctor before visiting, to avoid infecting others in waiting rooms."),
            (24, "history_m", f"It is the largest outbreak in {region} since {p.n(2011, 2019)}, when more than a hundred people fell ill, most of them in a single school district."),
            (22, "why", "Officials said vaccination rates had dropped partly because of disruption to routine appointments in recent years, and partly because of misleading claims about vaccine safety shared on social media."),
        ]
        public = [
            "We booked our youngest in the same day we heard. I'm not taking any chances.",
            "My daughter was in the same class as one of the children who got ill. It's been a very worrying week.",
            "I think a lot of parents just forgot about the second dose. Life gets busy.",
            "The school sent a letter home on Monday. By Tuesday we'd had the jab done.",
        ]
        tagged = [("clinics", "Extra vaccination clinics have been set up in schools and the library.")]
    elif choice == 1:
        cost, beds, staff = p.n(40, 180), p.n(24, 90), p.n(12, 45) * 10
        unit = p.one(["cancer treatment centre", "emergency department", "maternity unit", "children's ward"])
        core = [
            f"{dateline(town, region)} A new {money(cost)} {unit} opened at {hospital} on {p.weekday()}, which hospital officials say will end the need for thousands of patients to travel to the regional capital for treatment.",
            f"The building has {beds} beds and room for specialist equipment that the hospital has not had before. About {staff} staff will work there when it is fully open, including {p.n(20, 60)} doctors and nurses who have been recruited from outside the region.",
            f"Until now, patients from {town} and the surrounding area have faced round trips of up to {words(p.n(3, 5))} hours for some treatments.",
        ]
        hl = [
            f"A {money(cost)} {unit} opens at {hospital}.",
            f"It has {beds} beds and will employ about {staff} staff.",
            f"Patients will no longer have to travel up to {words(p.n(3, 5))} hours for some treatments.",
        ]
        hl[2] = "Patients previously faced long trips to the regional capital for some treatments."
        off_q = [f"For too long, people in {town} have had to choose between travelling for hours and going without. That ends today.", "This building is the result of years of work by staff, patients and the community."]
        specific = [
            (20, "fundraising", f"About {money(cost * p.f(0.04, 0.1, 2))} of the cost was raised by a local appeal, which included sponsored walks, concerts and a {p.one(['charity auction', 'cycle ride along the coast', 'swim across the bay'])}. The rest came from the regional government."),
            (21, "recruit", "Recruiting enough staff has been a challenge. The hospital has offered housing support and help with childcare to attract nurses, and it has been working with the regional university to train more people locally."),
            (23, "equipment", "The new building includes a scanner that can produce detailed images of the body in a fraction of the time taken by older machines, and a day unit where patients can receive treatment and go home the same afternoon."),
            (24, "design", "Patients were involved in the design. Rooms face a garden planted by volunteers, and families can stay overnight in a small apartment block next to the hospital."),
            (22, "delay", "The opening was delayed by almost a year after problems with the building's ventilation system were found during final checks. The contractor has agreed to pay for the repairs."),
        ]
        public = [
            "I had to travel three hours each way for my treatment last year. This will make such a difference.",
            "It's a beautiful building. Now they just need to make sure there are enough staff to run it.",
            "My mother was one of the people who helped raise money for it. She'd have been so proud.",
            "We've been waiting for this for years. It feels like the town has finally been listened to.",
        ]
        tagged = [("fundraising", "Part of the cost was raised by a local appeal.")]
    else:
        waits, pct_wait, target = p.n(5, 9), p.n(22, 48), p.n(70, 85)
        core = [
            f"{dateline(town, region)} Patients at {possessive(hospital)} emergency department are waiting an average of more than {words(waits)} hours to be seen, according to a report published on {p.workday()}, the longest waits in {region}.",
            f"The report, by the regional health watchdog, found that {pct_wait} percent of patients who arrived by ambulance waited more than an hour to be handed over to hospital staff. It said the department was often too full to take new patients, leaving ambulances queued outside.",
            f"The hospital is meant to see at least {target} percent of patients within four hours but has not met that target for more than two years.",
        ]
        hl = [
            f"Patients at {possessive(hospital)} emergency department wait more than {words(waits)} hours on average, a report finds.",
            f"{pct_wait} percent of ambulance patients wait more than an hour to be handed over.",
            "The hospital has missed its four-hour target for more than two years.",
        ]
        off_q = ["These waits are not acceptable, and I want to apologise to every patient who has been affected.", "The problem is not just in the emergency department. We cannot admit patients because we cannot discharge others who are well enough to leave but have nowhere safe to go."]
        specific = [
            (20, "beds", f"The report said about one in {words(p.n(5, 8))} beds at the hospital was occupied by a patient who was medically fit to leave but was waiting for a place in a care home or for help at home to be arranged."),
            (21, "plan", f"The hospital said it would open a new assessment unit next to the emergency department and hire {p.n(20, 60)} more nurses over the next year. It has also asked the regional government for money to expand community care."),
            (23, "staff", f"Staff told inspectors that they often worked extra shifts to cover gaps in the rota, and the report said the number of nurses leaving the hospital had risen by about {p.n(10, 30)} percent in two years."),
            (24, "winter", "The report warned that the situation was likely to get worse in winter, when respiratory illnesses increase the number of people needing hospital care."),
            (22, "ambulance", f"Paramedics said the delays meant ambulances were held outside the hospital when they were needed elsewhere. One crew waited more than {words(p.n(6, 11))} hours to hand over a patient on a single night last month, according to the report."),
        ]
        public = [
            "I waited eleven hours with a broken wrist. The staff were lovely, but they were run off their feet.",
            "My father was on a trolley in a corridor for a whole night. He's eighty-six.",
            "Nobody blames the nurses. They're doing their best in an impossible situation.",
            "I took my son in with a high temperature and we were there until three in the morning.",
        ]
        tagged = [("plan", "The hospital plans a new assessment unit and more nurses.")]
    extra = [
        (10, "official", said(off_q[0], f"said {official.name}, {'director of public health for the ' + authority if choice == 0 else 'chief executive of ' + hospital}") + f' "{off_q[1]}"'),
        (11, "doctor", f"{doctor.name}, a {p.one(['consultant', 'senior doctor', 'family doctor'])} who has worked in {town} for {words(p.n(8, 20))} years, said staff had been under great pressure. "
         + said(p.one(["Everyone here went into medicine to help people. Days like these remind you why.", "We have been asking for this for a long time. I'm glad people are finally listening.", "It is the patients who pay the price when the system doesn't work."]), f"{doctor.she} said")),
        *specific,
        (30, "patient", f"{patient.name}, {p.n(30, 79)}, who was treated at the hospital last year, said the experience had stayed with {'her' if patient.female else 'him'}. "
         + said("You don't think about any of this until you or somebody you love needs it. Then it's the only thing that matters", f"{patient.she} said")),
        (31, "expert", f"{expert.name}, who studies health services at {p.one(UNIVERSITIES)}, said {possessive(town)} situation reflected problems found across the region. "
         + said("Smaller towns have older populations and find it harder to recruit staff, so they tend to feel every pressure first", f"{expert.she} said")),
        (32, "funding", f"Health spending in {region} has risen by about {p.n(2, 6)} percent a year over the past decade, officials said, but demand has grown faster as the population has aged."),
        (33, "manager", f"{manager.name}, who manages community health services in {town}, said more care needed to be provided closer to people's homes. "
         + said("Hospitals are only one part of the picture. If we get care right in the community, fewer people end up needing them", f"{manager.she} said")),
        (34, "mayor", f"Mayor {mayor.name} said the town council would press regional leaders for more help. " + said("Health care is the thing residents raise with me more than anything else", f"{mayor.she} said")),
        (35, "profile", town_profile(p, town, region)),
        (36, "nurse", f"{nurse.name}, a nurse at {hospital} for more than {words(p.n(10, 20))} years, said morale among staff was mixed. "
         + said("We're proud of what we do, and we get lovely letters from patients. But people are tired, and some days it feels like we're holding the whole thing together with goodwill", f"{nurse.she} said")),
        (38, "gp", f"Family doctors in {town} say they are also under strain. The town has about one family doctor for every {p.n(19, 26) * 100:,} residents, compared with a regional average of about one for every {p.n(15, 18) * 100:,}, "
         "and several practices have stopped accepting new patients."),
        (39, "prevention", f"Public health officials said more needed to be done to keep people well in the first place, pointing to high rates of smoking and heart disease in parts of {town}. "
         "A new programme of free health checks at pharmacies and community centres is due to begin later this year."),
        (37, "national", "Across the country, health services are under similar strain. National figures show that demand for hospital care has risen faster than the number of doctors and nurses for most of the past decade."),
    ]
    for i, text in enumerate(voices(p, town, public, 4, place=hospital)):
        extra.append((50 + i, f"voice{i}", text))
    extra.append((90, "next", [
        f"The {authority} said it would publish weekly updates on the outbreak, and parents can check their children's vaccination records with their family doctor.",
        f"The hospital said the first patients would be admitted on {p.date()}, with the remaining beds brought into use over the following months.",
        f"The watchdog said it would inspect the department again in {p.month()} to check whether waiting times had improved.",
    ][choice]))
    return Story(core, extra, hl, tagged)


# ----------------------------------------------------------------- transport


def story_transport(p: Pick, town: str, region: str) -> Story:
    operator = p.one(["Coastline Rail", "Vell Valley Transit", "Northmoor Buses", "Calder Regional Rail"])
    boss, union, engineer, commuter_rep, mayor, expert = p.person(), p.person(), p.person(), p.person(), p.person(), p.person()
    owner = p.person()
    other = p.town()
    choice = p.n(0, 2)
    if choice == 0:
        cost, miles, stations, mins = p.n(180, 900), p.f(6, 22), p.n(4, 11), p.n(12, 35)
        years_late = p.n(1, 3)
        core = [
            f"{dateline(town, region)} The first passenger trains in more than half a century ran on the reopened line between {town} and {other} on {p.weekday()}, cutting journey times between the two towns by about {mins} minutes.",
            f"The {miles}-mile line, which closed in {p.n(1962, 1971)}, has been rebuilt at a cost of {money(cost)} with {words(stations)} stations. Trains will run every half hour during the day.",
            f"The project opened {words(years_late)} year{'s' if years_late > 1 else ''} later than planned and more than {p.n(15, 45)} percent over its original budget, after engineers found that several old bridges along the route needed to be replaced rather than repaired.",
        ]
        hl = [
            f"Passenger trains return to the line between {town} and {other} for the first time in more than fifty years.",
            f"The {miles}-mile line cost {money(cost)} and has {words(stations)} stations.",
            f"The project opened {words(years_late)} year{'s' if years_late > 1 else ''} late and over budget.",
        ]
        boss_q = ["This line was taken away from these communities a long time ago. Today we are giving it back.", "We know the project took longer than anyone wanted. The bridges we have built will last a hundred years."]
        specific = [
            (20, "first_day", f"Hundreds of people gathered on the platforms for the first departure, which left {town} shortly after six in the morning. Some had bought tickets simply to say they had been on the first train, and a brass band played as it pulled away."),
            (21, "passengers", f"Planners expect about {p.n(8, 30) * 100:,} passengers a day to use the line within five years, many of them commuters who currently drive into {other} along a road that is regularly congested."),
            (23, "building", f"Engineers rebuilt {words(p.n(4, 9))} bridges and a tunnel along the route and laid new track on the old railway embankment, much of which had been used as a footpath since the line closed. The footpath has been moved alongside the railway."),
            (24, "campaign", f"The reopening follows a campaign of more than twenty years by local residents, who collected signatures, lobbied politicians and, in {p.n(2004, 2012)}, chartered a steam train to run a single trip along the disused line to show it could be done."),
            (22, "fares", f"A single ticket between the two towns will cost {money(p.f(0.003, 0.008, 3))}, with discounts for students and people over sixty. The operator said fares had been set to compete with the cost of driving and parking."),
        ]
        public = [
            "My grandmother used to take this train to school. I brought her photograph with me today.",
            "It'll save me forty minutes a day. That's time I get to spend with my kids.",
            "It's wonderful, but they need to make sure the trains actually run on time.",
            "I never thought I'd see a train on this line in my lifetime.",
        ]
        tagged = [("passengers", f"Planners expect up to {p.n(8, 30) * 100:,} passengers a day within five years.")]
        tagged = [("first_day", "Hundreds of people gathered to see the first train depart.")]
    elif choice == 1:
        river = p.one(RIVERS)
        months, detour, cars = p.n(6, 18), p.n(8, 25), p.n(12, 40) * 1000
        core = [
            f"{dateline(town, region)} The main road bridge over the {river} in {town} will close for {words(months)} months from next week after inspectors found serious corrosion in its steel supports.",
            f"About {cars:,} vehicles cross the bridge every day. Drivers will face a diversion of about {words(detour)} miles, and officials have warned of long delays, especially at rush hour.",
            "A temporary footbridge will allow pedestrians and cyclists to keep crossing the river while repairs are carried out.",
        ]
        hl = [
            f"The main bridge over the {river} in {town} will close for {words(months)} months.",
            "Inspectors found serious corrosion in its steel supports.",
            f"About {cars:,} vehicles a day will face a diversion of around {words(detour)} miles.",
        ]
        boss_q = ["Safety has to come first. We would not be closing this bridge if we had any other choice.", "We know this will cause real disruption, and we are doing everything we can to finish the work as quickly as possible."]
        specific = [
            (20, "inspection", f"The corrosion was found during a routine inspection in {p.month()}. {engineer.name}, the engineer who led it, said water had been getting into the structure through damaged joints for years, slowly eating away at the steel."),
            (21, "business", f"Business owners on the {town} side of the river said they feared customers would stay away. The council said it would offer temporary relief on business rates to shops most affected by the closure."),
            (23, "age", f"The bridge was built in {p.n(1952, 1974)} and was designed for far fewer and lighter vehicles than use it today. Engineers said heavy lorries had added to the strain, and the council is considering a permanent weight limit once it reopens."),
            (24, "emergency", "Ambulance and fire services said they had drawn up plans to make sure that response times did not suffer, including stationing an extra ambulance on the far side of the river during the closure."),
            (22, "buses", f"Extra buses will run on the diversion route, and the operator said it would add carriages to trains between {town} and {other} to encourage people to leave their cars at home."),
        ]
        public = [
            "It already takes me half an hour to get to work. I dread to think what this is going to be like.",
            "If it's not safe, it's not safe. I'd rather they fixed it properly.",
            "They've known about problems with that bridge for years. Why has it taken until now?",
            "I'll be cycling, I think. At least the footbridge is staying open.",
        ]
        tagged = [("business", "The council will offer business rates relief to affected shops.")]
    else:
        days, drivers, routes = p.n(2, 5), p.n(18, 60) * 10, p.n(20, 70)
        offer, claim = p.f(3, 5.5), p.f(8, 12)
        core = [
            f"{dateline(town, region)} Bus drivers in {town} will strike for {words(days)} days next week in a dispute over pay, in a walkout that is expected to halt services on {routes} routes across {region}.",
            f"About {drivers} drivers employed by {operator} voted for the action, which their union said was a last resort after months of talks. The company has offered a pay rise of {offer} percent; the union is asking for {claim} percent, saying wages have fallen behind the cost of living.",
            "The operator said it would try to run a limited service on the busiest routes but warned passengers to make other arrangements.",
        ]
        hl = [
            f"Bus drivers in {town} will strike for {words(days)} days in a dispute over pay.",
            f"{operator} has offered {offer} percent; the union wants {claim} percent.",
            f"Services on {routes} routes are expected to be halted.",
        ]
        boss_q = ["We have made a fair offer that reflects what the business can afford. We urge the union to return to talks.", "A strike will harm the passengers who rely on us, and it will not change the financial position we are in."]
        specific = [
            (20, "union", f"{union.name}, the union's regional secretary, said drivers had not taken the decision lightly. "
             + said("Our members have kept this town moving through everything. They are asking for a wage they can live on, and that is not too much to ask", f"{union.she} said")),
            (21, "schools", "Schools said pupils who rely on buses would be allowed to work from home during the strike, and the council urged employers to be flexible with staff who could not get to work."),
            (23, "pay", f"The union said an experienced driver at {operator} earns about {money(p.f(0.032, 0.041, 3))} a year, less than drivers at neighbouring companies, and that the company had struggled to recruit and keep staff as a result."),
            (24, "previous", f"It would be the first strike by bus drivers in {town} since {p.n(1998, 2016)}, when a week-long walkout ended with a deal brokered by the regional government."),
            (22, "talks", f"Both sides said they were willing to meet again before the strike begins. A mediation service has offered to help, and a meeting has been provisionally arranged for {p.weekday()}."),
        ]
        public = [
            "I don't drive, so if there are no buses I can't get to work. Simple as that.",
            "I support the drivers. Everything costs more these days and wages haven't kept up.",
            "My mum relies on the bus to get to her hospital appointments. I'm worried about her.",
            "Both sides need to get back round the table. It's passengers who suffer.",
        ]
        tagged = [("talks", "Both sides say they are willing to meet again before the strike begins.")]
    extra = [
        (10, "boss", said(boss_q[0], f"said {boss.name}, {'chief executive of ' + operator if choice != 1 else 'the council official in charge of roads'}") + f' "{boss_q[1]}"'),
        *specific,
        (11, "commuters", f"{commuter_rep.name}, who chairs a local passengers' group, said travellers wanted clear information. "
         + said("People can put up with a lot if they are told the truth early. What they can't stand is being kept in the dark", f"{commuter_rep.she} said")),
        (30, "history", f"Transport has long been a sore point in {town}. "
         + ("The town lost its rail link more than fifty years ago, and for decades it relied on a single main road and a bus network that residents complained was slow and unreliable."
            if choice == 0 else "Residents have complained for years about congestion on the main roads, infrequent buses and a lack of safe routes for cycling.")),
        (37, "funding_t", f"The regional government has promised {money(p.n(150, 600))} over the next five years for public transport in {region}, but critics say the money is spread too thinly across too many projects to make a real difference to any one town."),
        (38, "cycling", f"Cycling and walking groups said the {['new line', 'closure', 'strike'][choice]} was a chance to rethink how people move around {town}, and called for secure bike parking at stations and safer routes into the town centre."),
        (39, "shop", f"{owner.name}, who runs a {p.one(['newsagent', 'cafe', 'hardware shop', 'florist'])} near {['the new station', 'the bridge', 'the bus station'][choice]}, said: "
         + '"' + ["Anything that brings more people into town is good news for us. We've already seen new faces this week.", "If people can't get across the river, they won't come in. It's as simple as that.", "When the buses stop, the town centre goes quiet. We lose half our customers."][choice] + '"'),
        (35, "access", "Disability campaigners said they had been consulted more closely than on previous projects and welcomed plans for step-free access, but warned that problems often appeared only once services were running. They asked for regular reviews."),
        (36, "survey", f"A survey by the regional government last year found that {p.n(55, 75)} percent of people in {town} travel to work by car, compared with an average of about half across {region}, and that fewer than one in ten use public transport every day."),
        (31, "expert", f"{expert.name}, a transport researcher at {p.one(UNIVERSITIES)}, said the region had underinvested in public transport for decades. "
         + said("Smaller towns have been told for years to wait their turn. The result is that people who can drive do, and people who can't are left behind", f"{expert.she} said")),
        (32, "mayor", f"Mayor {mayor.name} said: \"Good transport is not a luxury. It decides whether young people can get to college, whether older people can get to hospital and whether businesses can find staff.\""),
        (33, "climate", f"Transport accounts for about a {p.one(['quarter', 'third'])} of greenhouse gas emissions in {region}, and the regional government has set a goal of doubling the number of journeys made by public transport within ten years."),
        (34, "profile", town_profile(p, town, region)),
    ]
    for i, text in enumerate(voices(p, town, public, 4, place=["the new station", "the bridge", "the bus station"][choice])):
        extra.append((50 + i, f"voice{i}", text))
    return Story(core, extra, hl, tagged)


# ------------------------------------------------------------------- culture


def story_culture(p: Pick, town: str, region: str) -> Story:
    director, artist, critic, volunteer, mayor, owner = p.person(), p.person(), p.person(), p.person(), p.person(), p.person()
    curator = p.person()
    choice = p.n(0, 2)
    if choice == 0:
        visitors, days, acts, spend = p.n(30, 120) * 1000, p.n(3, 10), p.n(6, 30) * 10, p.f(3, 18)
        fest = f"{town} {p.one(['Folk Festival', 'Arts Festival', 'Jazz Festival', 'Festival of Light'])}"
        core = [
            f"{dateline(town, region)} The {fest} ended on {p.weekday()} with a record {visitors:,} visitors over {words(days)} days, organisers said, more than double the number who attended five years ago.",
            f"More than {acts} performers took part in concerts, street shows and workshops across the town, from {p.one(['a hundred-strong community choir', 'a brass band made up of retired miners', 'a group of children from the primary school'])} to artists who travelled from overseas.",
            f"Organisers estimate that visitors spent about {money(spend)} in the town during the festival.",
        ]
        hl = [
            f"The {fest} draws a record {visitors:,} visitors over {words(days)} days.",
            f"More than {acts} performers took part.",
            f"Visitors spent an estimated {money(spend)} in the town.",
        ]
        art_q = ["There is something about playing in a small town where the whole place turns out. You can feel it from the stage.", "I have played in much bigger venues, but I don't think I have ever had an audience like that."]
        dir_q = ["When we started, we were a handful of volunteers with a borrowed stage. To see the town this full is extraordinary.", "The challenge now is to grow without losing what makes the festival special."]
        specific = [
            (20, "highlight", f"The highlight for many was a free concert on the harbour front on the final night, which drew about {p.n(6, 15) * 1000:,} people and ended with fireworks over the water."),
            (21, "problems", f"The festival was not without problems. Heavy rain on the {p.one(['second', 'third'])} day forced organisers to move several events indoors, and some residents complained about noise and parking in the streets around the main stage."),
            (23, "lineup", "This year's programme mixed established names with young performers, many of them from the region, and for the first time included a stage run entirely by teenagers, who chose the acts and ran the sound and lighting themselves."),
            (24, "green", "Organisers said they had cut waste by banning single-use cups and running shuttle buses from car parks outside the town, though they admitted that traffic was still heavy on the final weekend."),
            (22, "volunteers", f"The event depends on about {p.n(20, 60) * 10} volunteers. {volunteer.name}, who has helped at every festival since it began, said: \"It's hard work, but there's nothing else like it. For one week a year this town feels like the centre of the world.\""),
        ]
        public: list[Quote] = [
            "We've come every year since the kids were small. It gets better every time.",
            ("guesthouse owner", "We were fully booked for the whole week. It makes a huge difference to us."),
            "The music was brilliant. The queues for the toilets, less so.",
            "My daughter danced for three days straight. I've never seen her so happy.",
        ]
        tagged = [("highlight", "A free harbour-front concert on the final night drew thousands.")]
    elif choice == 1:
        objects, years, cost = p.n(80, 400), p.n(2, 5), p.f(2, 14)
        museum = f"{town} Museum"
        theme = p.one(["the town's fishing industry", "the women who worked in the town's mills", "the history of the railway", "two centuries of local shipbuilding"])
        core = [
            f"{dateline(town, region)} The {museum} reopened on {p.weekday()} after a {money(cost)} renovation that took {words(years)} years, with a new permanent exhibition about {theme}.",
            f"The exhibition brings together {objects} objects, many of them donated by local families and never displayed before, including photographs, letters, tools and recorded interviews with people who remember the period first-hand.",
            "Entry to the museum will remain free, and it will open seven days a week during the summer.",
        ]
        hl = [
            f"The {museum} reopens after a {money(cost)} renovation lasting {words(years)} years.",
            f"A new exhibition about {theme} brings together {objects} objects.",
            "Entry will remain free.",
        ]
        art_q = ["These are ordinary people's stories, and they deserve to be told in their own words.", "Some of the families who lent us objects came to the preview and found their grandparents' faces on the walls. That was very moving."]
        dir_q = ["A museum should be a place where a town can see itself. That is what we have tried to build.", "We want children to come in and realise that history happened on the streets they walk down every day."]
        specific = [
            (20, "building", f"The renovation repaired the roof of the {p.n(1860, 1910)} building, added a lift and a new learning centre for school groups, and created space for temporary exhibitions. The museum had been closed since the roof partly collapsed during a storm."),
            (21, "donations", f"After the museum appealed for objects last year, more than {p.n(3, 9) * 100} people came forward. Curators spent months recording their stories. The oldest object in the exhibition, a hand-drawn map of the town, dates from {p.n(1760, 1820)}."),
            (23, "curator", f"{curator.name}, the curator who led the project, said the hardest part had been choosing what to leave out. " + said("Every object has a story, and for every one you see there are ten more in storage. We will change the displays regularly", f"{curator.she} said")),
            (24, "schools_m", f"More than {p.n(20, 60)} schools have already booked visits, and the museum has written teaching materials that link the exhibition to lessons in history, geography and art."),
            (22, "funding", f"Most of the cost was covered by a national heritage grant, with the rest raised by the town council and a local appeal. Organisers said more than {p.n(4, 15) * 100:,} people had given money, many of them small amounts."),
        ]
        public = [
            "I found a photograph of my grandfather in there. I had no idea it even existed.",
            "It's lovely to have it open again. The town hasn't felt the same without it.",
            "The kids loved the interactive bits. We'll definitely be back.",
            "It's the best museum this town has ever had, and it's free. What more could you want?",
        ]
        tagged = [("building", "The building had been closed since its roof partly collapsed in a storm.")]
    else:
        prize = p.n(10, 50) * 1000
        title = p.one(["The Salt Road", "A House on Quarry Lane", "Winter Crossing", "The Lamplighter's Daughter", "What the River Kept"])
        genre = p.one(["debut novel", "collection of short stories", "memoir", "novel"])
        shortlist = p.n(5, 8)
        core = [
            f"{dateline(town, region)} {artist.name} has won the {region.removeprefix('the ')} Book Prize for {title}, a {genre} set in {town}, beating {words(shortlist - 1)} other writers on the shortlist.",
            f"The prize, worth ${prize:,}, was announced at a ceremony at the {town} library on {p.weekday()} evening. The judges described the book as {p.one(['a moving portrait of a community in the middle of change', 'funny, angry and deeply humane', 'a quiet masterpiece about family and belonging'])}.",
            f"{artist.last}, who {p.one(['works as a teacher', 'spent twenty years as a nurse', 'grew up above a shop on the high street', 'began writing after retiring from the fire service'])}, said {artist.she} had written most of the book early in the morning before work.",
        ]
        hl = [
            f"{artist.name} wins the {region.removeprefix('the ')} Book Prize for {title}.",
            f"The {genre}, set in {town}, beat {words(shortlist - 1)} other books on the shortlist.",
            f"The prize is worth ${prize:,}.",
        ]
        art_q = ["I wrote this book for the people I grew up with. To have it recognised like this is more than I ever imagined.", "For years I thought stories about towns like this didn't count. I hope this tells other writers that they do."]
        dir_q = ["The standard this year was exceptional, and the judges argued for a long time. In the end, this book stayed with all of us.", "It is a book about one small town, but it speaks to anyone who has ever wondered where they belong."]
        specific = [
            (20, "sales", f"Sales of the book have risen sharply since the shortlist was announced, and the publisher said it had ordered a further {p.n(5, 30) * 1000:,} copies. Bookshops in {town} reported queues on the morning after the ceremony."),
            (21, "plot", f"{title} follows three generations of a family over the course of a single year, as the closure of the town's largest employer forces each of them to decide whether to stay or leave."),
            (23, "shortlist", "The shortlist included a first collection of poems, a history of the region's railways and a novel written entirely in the form of letters. The judges said they had read more than a hundred submissions."),
            (24, "writing", f"{artist.last} has said that {artist.she} wrote the first draft in longhand over {words(p.n(3, 7))} years, in notebooks kept in a kitchen drawer, before typing it up. {cap(artist.she)} is already working on a second book, also set in the region."),
            (22, "history", f"The prize was founded in {p.n(1985, 2005)} to encourage writing about the region. Previous winners include writers of poetry, history and fiction, and several have gone on to win national awards."),
        ]
        public = [
            "I read it in two sittings. I recognised so many of the places in it.",
            "It's about time somebody wrote about this town properly.",
            "My book club chose it before it was even shortlisted. We're all feeling very pleased with ourselves.",
            "It's lovely to see somebody from round here do so well.",
        ]
        tagged = [("sales", "The publisher has ordered thousands more copies.")]
    extra = [
        (10, "artist", said(art_q[0], f"said {artist.name}, " + ["who closed the festival on its final night", "a historian who helped to gather the objects", "speaking after the ceremony"][choice]) + f' "{art_q[1]}"'),
        (11, "director", said(dir_q[0], f"said {director.name}, {'the festival director' if choice == 0 else 'the museum director' if choice == 1 else 'who chaired the judging panel'}") + f' "{dir_q[1]}"'),
        *specific,
        (30, "critic", f"{critic.name}, a critic who writes about the arts in {region}, said the success reflected a wider revival of cultural life in the region's smaller towns. "
         + said("People are rediscovering what is on their own doorstep. Councils that invest in culture are seeing the benefits", f"{critic.she} said")),
        (31, "business", f"{owner.name}, who runs {['a cafe', 'a gift shop', 'a bookshop'][choice]} in the town centre, said it had been {['the busiest week', 'one of the busiest weekends', 'one of the busiest weeks'][choice]} {owner.she} could remember. "
         + said("Events like this keep small businesses going through the quieter months", f"{owner.she} said")),
        (32, "mayor", f"Mayor {mayor.name} said the town was proud. " + said(f"{town} has always had a creative streak, and it is wonderful to see it recognised", f"{mayor.she} said")),
        (33, "funding_pressure", f"Arts organisations in {region} have faced cuts in public funding in recent years, and several smaller venues have closed. Campaigners said the success showed what could be achieved with modest investment."),
        (34, "profile", town_profile(p, town, region)),
        (35, "tourism", f"Tourism officials said cultural events were increasingly important to the local economy. Visitor numbers in {town} have risen by about {p.n(10, 35)} percent in five years, and several new guesthouses and restaurants have opened."),
        (37, "online", f"Photographs and videos from the {['festival', 'reopening', 'ceremony'][choice]} were shared widely online, and organisers said their website had received more visits in a week than in the whole of the previous year."),
        (38, "council_arts", f"The town council spends about {money(p.f(0.2, 0.9))} a year on arts and culture, a figure that has been cut by about a third over the past decade. Councillors from all parties said they wanted to protect what remained."),
        *[(39, "visitors_from", f"Visitors came from across {region} and beyond, and hotels and guesthouses within {words(p.n(10, 20))} miles of {town} reported being full on at least one night. Some had travelled from overseas.")][: 1 if choice == 0 else 0],
        (36, "young", "Youth workers said events of this kind gave young people in the town something to be proud of, and several local groups are planning workshops and performances of their own over the coming year."),
    ]
    for i, text in enumerate(voices(p, town, public, 4)):
        extra.append((50 + i, f"voice{i}", text))
    extra.append((90, "next", f"{'Next year' + chr(39) + 's festival' if choice == 0 else 'The next exhibition' if choice == 1 else 'Entries for next year' + chr(39) + 's prize'} {'will be held in ' + p.month() if choice == 0 else 'is planned for the spring' if choice == 1 else 'open in ' + p.month()}, organisers said."))
    return Story(core, extra, hl, tagged)


# ------------------------------------------------------------------ assembly

KINDS: dict[str, Callable[[Pick, str, str], Story]] = {
    "local government": story_council,
    "weather": story_weather,
    "science": story_science,
    "sport": story_sport,
    "business": story_business,
    "courts": story_courts,
    "health": story_health,
    "transport": story_transport,
    "culture": story_culture,
}


def word_count(text: str) -> int:
    return len(text.split())


def assemble(story: Story, target_words: int, rng: random.Random) -> tuple[str, str]:
    """Core plus optional paragraphs until ``target_words``, in news order; returns (article, highlights)."""
    # The first two extras are the most newsworthy; the rest vary from article to article.
    head, tail = story.extra[:2], story.extra[2:]
    rng.shuffle(tail)
    count = sum(word_count(t) for t in story.core)
    chosen: list[tuple[int, str, str]] = []
    for item in head + tail:
        if count >= target_words:
            break
        chosen.append(item)
        count += word_count(item[2])
    chosen.sort(key=lambda item: item[0])
    printed = {tag for _, tag, _ in chosen}
    highlights = list(story.highlights)
    for tag, sentence in story.tagged_highlights:
        if tag in printed and len(highlights) < 4:
            highlights.append(sentence)
    # Paragraphs joined by a space, as in the source data's article field.
    return " ".join(story.core + [text for _, _, text in chosen]), "\n".join(highlights)


def target_lengths(rng: random.Random, n: int) -> list[int]:
    """``n`` article lengths at evenly spaced quantiles of the length distribution, shuffled."""
    dist = statistics.NormalDist(0.0, SIGMA)
    lengths = [
        min(MAX_WORDS, max(MIN_WORDS, round(MEDIAN_WORDS * 2.718281828 ** dist.inv_cdf((i + 0.5) / n))))
        for i in range(n)
    ]
    rng.shuffle(lengths)
    return lengths


def generate_articles(seed: int = SEED, n: int = N_RECORDS) -> list[dict[str, str]]:
    """``n`` synthetic articles as ``{"article", "highlights", "kind"}``; same seed, same text."""
    rng = random.Random(seed)
    kinds = [name for _, name in zip(range(n), _cycle(list(KINDS)))]
    rng.shuffle(kinds)
    stories = []
    for kind in kinds:
        p = Pick(rng)
        stories.append(KINDS[kind](p, p.town(), p.one(REGIONS)))
    targets = _fit_targets(target_lengths(rng, n), [_capacity(s) for s in stories])
    out = []
    for kind, story, target in zip(kinds, stories, targets):
        article, highlights = assemble(story, target, rng)
        out.append({"article": article, "highlights": highlights, "kind": kind})
    return out


def _capacity(story: Story) -> int:
    return sum(word_count(t) for t in story.core) + sum(word_count(t) for _, _, t in story.extra)


def _fit_targets(targets: list[int], capacity: list[int]) -> list[int]:
    """Swap targets so that a long target lands on a story with enough paragraphs for it."""
    targets = list(targets)
    for i in sorted(range(len(targets)), key=lambda k: -targets[k]):
        if capacity[i] >= targets[i]:
            continue
        for j in range(len(targets)):
            if capacity[j] >= targets[i] > targets[j] and capacity[i] >= targets[j]:
                targets[i], targets[j] = targets[j], targets[i]
                break
    return targets


def _cycle(items: list[str]) -> Iterator[str]:
    while True:
        yield from items


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlnb.data.make_embedded", description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True, help="local folder of the tokenizer that makes tok_input")
    parser.add_argument("--tokenizer-name", default=DEFAULT_TOKENIZER_NAME, help="hub id recorded in the .meta.json sidecar")
    parser.add_argument("--out", required=True, type=Path, help="where to write cnn_eval.json")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--records", type=int, default=N_RECORDS)
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer  # heavy; only the generator needs it

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    articles = generate_articles(args.seed, args.records)
    records = records_from_articles(articles, tokenizer)
    write_text_atomic(args.out, dumps_records(records))
    # Sidecar, so the main file keeps the official schema exactly.
    meta = {
        "records": len(records),
        "tokenizer": args.tokenizer_name,
        "template": "mlperf-llama3.1-8b",
        "generator": "mlnb.data.make_embedded",
        "seed": args.seed,
    }
    write_json_atomic(args.out.with_name(args.out.stem + ".meta.json"), meta)
    lengths = sorted(len(r["tok_input"]) for r in records)
    wc = sorted(word_count(a["article"]) for a in articles)
    print(f"wrote {len(records)} records to {args.out}")
    print(f"words: min {wc[0]} median {statistics.median(wc)} max {wc[-1]}")
    print(f"prompt tokens: min {lengths[0]} median {statistics.median(lengths)} max {lengths[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
