"""Word lists the rules extractor uses to tell names, places and organisations apart.

Small on purpose: a missed entity costs less than a wrong one. Names that are also common words
or places ("Will", "May", "Jordan", "Paris") are left out of the name list.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _phrases(text: str) -> frozenset[str]:
    return frozenset(line.strip().lower() for line in text.split(",") if line.strip())


FIRST_NAMES = _words(
    """
    aaron abigail adam adrian ahmed aisha alan albert alex alexander alexandra alice alicia
    amanda amelia amir amy ana andrea andrew angela anna anne anthony antonio arjun ben
    benjamin beth brian carlos carmen caroline charles charlotte chloe chris christina
    christopher claire daniel david deborah diana diego dmitri elena elizabeth ella emily emma
    eric ethan eva fatima fernando francesca francesco gabriel george giulia greg hannah hans
    harry helen henry hiroshi igor isaac isabel isabella ivan jack jacob james jane jason
    jennifer jessica joanna joe john jonathan jose josé joseph julia julian karen katherine
    kate kevin laura lauren leo linda lisa lucas lucy luis maria mario marta martin mary matt
    matthew maya megan mei michael michelle miguel mohammed muhammad nadia natalie nathan
    nicholas nicole nina noah olga oliver olivia omar pablo patricia paul pedro peter priya
    rachel rahul raj rebecca richard robert ryan samantha samuel sandra sara sarah sergei sofia
    sophia sophie stephanie steven susan thomas tom tim timothy valentina victor wei william
    yuki zoe zoë bob mike dave steve sam nick jim kim dan liz ken fred jenny becky
    katie kelly
    """
)

# Cities and countries, lower case; multi-word entries are matched as whole capitalised runs.
PLACES = _phrases(
    """
    Amsterdam, Athens, Auckland, Bangkok, Barcelona, Beijing, Berlin, Bogotá, Boston, Brussels,
    Budapest, Buenos Aires, Cairo, Cape Town, Chicago, Copenhagen, Delhi, New Delhi, Dubai,
    Dublin, Edinburgh, Frankfurt, Geneva, Hamburg, Helsinki, Hong Kong, Istanbul, Jakarta,
    Johannesburg, Kyiv, Kiev, Lagos, Lisbon, London, Los Angeles, Lyon, Madrid, Manchester,
    Melbourne, Mexico City, Miami, Milan, Montreal, Moscow, Mumbai, Munich, Nairobi, New York,
    New York City, Oslo, Ottawa, Prague, Rio de Janeiro, Rome, San Francisco, Santiago,
    São Paulo, Seattle, Seoul, Shanghai, Singapore, Stockholm, Taipei, Tokyo, Toronto,
    Vancouver, Vienna, Warsaw, Zurich, Zürich, Kraków, Krakow, Osaka, Kyoto, Porto, Seville,
    Paris, Venice, Naples, Marseille, Brooklyn, Manhattan, Silicon Valley,
    Argentina, Australia, Austria, Belgium, Brazil, Canada, Chile, China, Colombia, Croatia,
    Czechia, Denmark, Egypt, England, Estonia, Finland, France, Germany, Greece, Hungary,
    Iceland, India, Indonesia, Ireland, Israel, Italy, Japan, Kenya, Mexico, Morocco,
    Netherlands, New Zealand, Nigeria, Norway, Peru, Poland, Portugal, Romania, Russia,
    Scotland, South Africa, South Korea, Korea, Spain, Sweden, Switzerland, Taiwan, Thailand,
    Turkey, Ukraine, United Kingdom, United States, Vietnam, Wales, Europe, Asia, Africa,
    North America, South America, UK, USA, UAE
    """
)

# The last word of a capitalised run that makes it a place ("Baker Street", "Heathrow Airport").
PLACE_SUFFIXES = _words(
    "Street St Avenue Ave Road Rd Boulevard Lane Square Park Airport Station Bridge Plaza "
    "Beach Lake Island Mountain River Harbour Harbor Valley"
)

# The last word of a capitalised run that makes it an organisation ("Acme Inc", "Mizuho Bank").
ORG_SUFFIXES = _words(
    "Inc Ltd LLC LLP GmbH AG Corp Corporation Company Co University College Institute Bank "
    "Foundation Group Labs Holdings"
)

# Well-known organisations whose names carry no suffix.
KNOWN_ORGS = _phrases(
    """
    Google, Microsoft, Apple, Amazon, Meta, Facebook, Netflix, Spotify, Uber, Airbnb, IBM,
    Intel, Nvidia, Oracle, Salesforce, Adobe, Tesla, Samsung, Sony, Siemens, Toyota, Stripe,
    GitHub, GitLab, OpenAI, Mozilla, Wikipedia, NASA, UNICEF, UNESCO, NATO,
    BBC, CNN, Reuters, Deloitte, McKinsey, Goldman Sachs, JPMorgan, Red Cross, United Nations,
    European Union
    """
)

# Capitalised words that break a run of capitalised words and are never an entity by themselves.
STOP_CAPS = _words(
    """
    I I'm I'll I'd I've A An The This That These Those It It's Its He She We They You You're
    My Our Your His Her Their Hi Hello Hey Dear Thanks Thank Cheers Regards Best Ok OK Okay
    Yes No Yeah Nope Sure Please Sorry Also And But Or So If Then When While What Why How Who
    Where Which Maybe Perhaps Just Not Let's Lets Great Good Nice Cool Well Oh Wow Happy
    Mr Mrs Ms Mx Dr Prof Sir Madam Team All Everyone
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday Today Tomorrow Tonight Yesterday
    January February March April May June July August September October November December
    Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Christmas Easter
    English French German Spanish Italian Chinese Japanese Python Java JavaScript TypeScript
    Rust Go Linux Windows Mac Excel Word PowerPoint Slack Zoom Teams Docker Kubernetes
    """
)

PERSON_TITLES = _words("Mr Mrs Ms Mx Dr Prof")

# Words after which a capitalised run is likely a person (spoken to, met, copied in).
PERSON_TRIGGERS = _words(
    "with ask asked tell told call called meet met cc ping pinged email emailed thank thanks "
    "from to"
)

# Words after which a gazetteer place is certainly meant as a place.
PLACE_TRIGGERS = _words("in at to from near visit visiting via around")

# Upper-case words that are not organisations: chat shorthand, units, tech, time zones and
# currency codes ("under 2000 EUR" names an amount, not a company).
ACRONYM_STOP = _words(
    """
    OK TODO FYI ASAP AM PM ETA EOD EOW BTW IMO IMHO TBD TBA LOL OMG FAQ TLDR TL DR AKA ETC
    PS NB RSVP DIY DM PR QA IT HR TV PC ID UI UX AI ML CEO CTO CFO COO VP API URL PDF CSV
    JSON XML YAML HTML CSS SQL HTTP HTTPS SSH DNS VPN CLI SDK IDE OS IO CPU GPU RAM SSD USB
    GB MB KB TB UTC GMT EST PST CET BST EDT PDT CEST NO YES NOT AND THE FOR YOU ALL II III
    IV VI VII VIII IX XI XII ASCII UTF RSS SMS MMS NDA KPI OKR ROI FAQ PTO OOO WFH ESG
    EUR USD GBP JPY CHF CAD AUD CNY INR SEK NOK DKK PLN CZK BRL MXN
    """
)
