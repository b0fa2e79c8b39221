"""Real-looking copies of one wire story on five sites, and a different story on the same topic."""

from __future__ import annotations

WIRE = [
    "Ukraine fired U.S.-supplied ATACMS missiles at a Russian ammunition depot in the Bryansk region early "
    "on Tuesday, Russia's defence ministry said, a day after Washington eased limits on their use.",
    "The ministry said air defences shot down five of six missiles and that debris from the sixth started "
    "a fire at a military facility, which was quickly put out. It reported no casualties.",
    "Kyiv did not immediately confirm the strike. A Ukrainian military official said secondary detonations "
    "were seen for several hours, suggesting that stored munitions had been hit.",
    "The Kremlin said the use of the long-range weapons marked a new phase of the conflict and that Moscow "
    "would respond appropriately. President Vladimir Putin signed an updated nuclear doctrine the same day.",
    "Western officials said the decision to allow the strikes followed the deployment of foreign soldiers "
    "to the Kursk region, where Ukrainian forces have held territory since August.",
]


FIVE_SITES = [
    "\n\n".join(["By Maria Kowalska, Reuters", *WIRE, "Reporting by Tom Balmforth; Editing by Mark Potter."]),
    "\n\n".join(
        ["KYIV (AP) — " + WIRE[0], *WIRE[1:], "Copyright 2024 The Associated Press. All rights reserved."]
    ),
    "\n\n".join([*WIRE[:4], "Read more: Russia's nuclear doctrine explained", "Sign up for our newsletter."]),
    "\n\n".join(["Staff and agencies", *WIRE[:4]]),
    "\n\n".join([WIRE[0].replace("early on Tuesday", "on Tuesday morning"), *WIRE[1:], "Follow us on X."]),
]


OTHER_ATACMS = (
    "A second volley of ATACMS struck an air base near Kursk on Tuesday evening, according to Ukrainian "
    "officials, who said two helicopters and a radar station were destroyed. Russia's defence ministry said "
    "it had intercepted eight missiles over the region and that falling debris damaged several houses. "
    "Satellite images published by a private company showed scorch marks on the apron. The strike was the "
    "first on an airfield since Washington lifted its restrictions, analysts said."
)
