"""Word lists rules@2 adds to rules@1's gazetteer: Spanish, German and French names, places,
titles, triggers and the capitalised words of those languages that are never a name.

rules@1's lists are reused as they are (its module is not changed); these only extend them.
"""

from __future__ import annotations

from cardwright.extractors import rules_gazetteer as v1


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _phrases(text: str) -> frozenset[str]:
    return frozenset(item.strip().lower() for item in text.split(",") if item.strip())


FIRST_NAMES = v1.FIRST_NAMES | _words(
    """
    lucía lucia javier alejandro álvaro alvaro raúl raul andrés andres inés ines sofía
    jorge sergio manuel rosa pilar beatriz jürgen juergen klaus stefan andreas katrin lena
    lukas jonas anja sabine markus franziska matthias mathilde camille louis léa lea hugo
    chloé manon julien pierre jean marie élodie antoine amélie théo theo lina mia noor
    leon felix max paula clara lara greta ingrid björn bjorn kenji aiko ravi ananya
    """
)
PLACES = v1.PLACES | _phrases(
    """
    Londres, Lisboa, Berlín, Múnich, Nueva York, Alemania, España, Francia, Suiza, Sevilla,
    Valencia, Bilbao, Málaga, Granada, Zaragoza, München, Köln, Wien, Düsseldorf, Stuttgart,
    Leipzig, Dresden, Deutschland, Spanien, Frankreich, Schweiz, Österreich, Italien,
    Allemagne, Espagne, Angleterre, Suisse, Bordeaux, Toulouse, Nice, Lille, Nantes,
    Strasbourg, Montpellier, Bruxelles, Genève, Lausanne, Alfama
    """
)
KNOWN_ORGS = v1.KNOWN_ORGS | _phrases(
    """
    Renfe, Iberia, Lufthansa, Deutsche Bahn, SNCF, Air France, Telefónica, Zara, Inditex,
    Carrefour, Airbus, SAP, BMW, Volkswagen, Bosch, Ikea, IKEA, Atlassian, Figma, Notion,
    Shopify, Dropbox, Booking, Ryanair, EasyJet, Vodafone, Santander, BBVA, Allianz, Ubisoft
    """
)
ORG_SUFFIXES = v1.ORG_SUFFIXES | _words("SA SL SAS SARL KG eV Verlag Universidad Université")
PLACE_SUFFIXES = v1.PLACE_SUFFIXES | _words(
    "Hall Center Centre Stadium Arena Market Mall Gardens Hospital Museum Library Hotel Cafe "
    "Café Bar Restaurant Platz Straße Strasse Bahnhof Hauptbahnhof"
)
# The first word of a capitalised run that makes it a place ("Hotel Adlon", "Calle Mayor").
PLACE_PREFIXES = _words(
    "Hotel Café Cafe Restaurant Bar Museo Museum Musée Calle Plaza Avenida Rue Place Gare "
    "Parque Parc Teatro Théâtre Hospital Estación Palacio Castillo Mount Lake Port"
)
# Titles before a name, written with or without a dot.
PERSON_TITLES = v1.PERSON_TITLES | _words("Sr Sra Srta Dra Don Doña Herr Herrn Frau Mme Mlle M")
# Words after which a lone capitalised word is a person ("email Lena", "llama a Inés").
STRONG_TRIGGERS = _words(
    "ask asked tell told call called meet met cc ping pinged email emailed invite text "
    "remind thank thanks llama llamar pregunta preguntar appelle appeler demande frag ruf "
    "schreib"
)
# Words after which a run of two or three capitalised words is a person.
PERSON_TRIGGERS = STRONG_TRIGGERS | _words("with con mit avec and y und et")
# Words after which an unknown run of several capitalised words is a venue.
PLACE_PREPOSITIONS = _words("at near en à au im beim")
STOP_CAPS = v1.STOP_CAPS | _words(
    """
    El Los Las Un Una Unos Y O Pero Hola Gracias Sí Nos Vamos Hay Tengo Tenemos Hemos Por
    Para Mañana Hoy Ayer Lunes Martes Miércoles Jueves Viernes Sábado Domingo Enero Febrero
    Marzo Abril Mayo Junio Julio Agosto Septiembre Octubre Noviembre Diciembre Prefiero
    Me Mi Su Yo Te Qué Cómo Dónde Cuándo Recuerda Decidimos Perfecto Vale Buenas Buenos
    Der Die Das Dem Den Des Ein Eine Einen Und Aber Oder Ich Wir Sie Er Es Du Ihr Hallo
    Danke Ja Nein Bitte Morgen Heute Gestern Montag Dienstag Mittwoch Donnerstag Freitag
    Samstag Sonntag Januar Februar März Mai Juni Juli Oktober Dezember Wann Wo Wie Was
    Warum Können Kannst Treffen Termin Guten Tag Mein Meine Unser Wochenende Woche
    Le Les Une Et Mais Ou Je Nous Vous Il Elle On Bonjour Merci Oui Non Demain Aujourd
    Salut Lundi Mardi Mercredi Jeudi Vendredi Samedi Dimanche Janvier Février Mars Avril
    Juin Juillet Août Septembre Octobre Novembre Décembre Quand Où Pourquoi Est Ça Mon Ma
    Mes Notre Rendez Réunion C'est J'ai Pense Super Agreed Decision Done Action Note TODO
    Let Meet Lunch Dinner Call Team Week Weekend Next Last Monday
    """
)
