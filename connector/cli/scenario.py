"""A campaign scenario for the demo (and the end-to-end test): who scans which code, who
clicks the menu, who leaves, and what Salesforce and the campaign figures should show
afterwards.

Built from a sandbox population, deterministic from a seed. Expectations are derived
from the scenario itself, so the demo can check what landed instead of trusting it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from connector.scenes import SEPARATOR


@dataclass
class Scenario:
    """The acts to play, in order, and what should result.

    ``acts`` are (openid, action, scene) with action "scan", "click" or "unfollow";
    ``storm`` is the index of the act delivered four times at once (a resend storm).
    ``codes``: CampaignId → the scenes of its codes (its own first, then channel codes).
    ``new``: the people who did not follow before.
    """

    campaigns: dict[str, str]  # name -> CampaignId
    contacts: dict[str, str]  # openid -> name of a Contact that already carries it
    codes: dict[str, list[str]] = field(default_factory=dict)
    new: set[str] = field(default_factory=set)
    acts: list[tuple[str, str, str | None]] = field(default_factory=list)
    storm: int | None = None

    @property
    def people(self) -> set[str]:
        return {openid for openid, _, _ in self.acts}

    def campaign_of(self, scene: str) -> str:
        return next(cid for cid, scenes in self.codes.items() if scene in scenes)

    def members(self) -> dict[str, set[str]]:
        """CampaignId -> openids that scanned any of its codes (each a member once)."""
        out: dict[str, set[str]] = {cid: set() for cid in self.campaigns.values()}
        for openid, action, scene in self.acts:
            if action == "scan":
                out[self.campaign_of(scene)].add(openid)
        return out

    def figures(self, campaign_id: str) -> dict[str | None, tuple[int, int, int]]:
        """Channel (None: the campaign's own code) → (scans, unique scanners, new
        followers), as ``connector campaigns stats`` should count them."""
        scans: dict[str | None, int] = {}
        scanners: dict[str | None, set[str]] = {}
        followed: dict[str | None, set[str]] = {}
        seen: set[str] = set()
        for openid, action, scene in self.acts:
            if action != "scan":
                continue
            first = openid not in seen
            seen.add(openid)
            if self.campaign_of(scene) != campaign_id:
                continue
            channel = scene.partition(SEPARATOR)[2] or None
            scans[channel] = scans.get(channel, 0) + 1
            scanners.setdefault(channel, set()).add(openid)
            if first and openid in self.new:  # their first scan made them follow
                followed.setdefault(channel, set()).add(openid)
        return {c: (scans[c], len(scanners[c]), len(followed.get(c, ()))) for c in scans}

    def clickers(self) -> set[str]:
        return {openid for openid, action, _ in self.acts if action == "click"}

    def expected(self) -> dict[str, int]:
        scanners = {o for o, a, _ in self.acts if a == "scan"}
        return {
            "followers": len(self.people),
            "leads_created": len(scanners - set(self.contacts)),
            "contacts_matched": len(scanners & set(self.contacts)),
            "interactions": sum(1 for _, a, _ in self.acts if a == "click"),
            # lifecycle: a Contact is a Customer (a later stage than Engaged)
            "engaged": len(self.clickers() - set(self.contacts)),
            "customers": len(set(self.contacts)),
            **{f"members:{cid}": len(m) for cid, m in self.members().items()},
        }


def build_scenario(population, codes: dict[str, list[str]], campaigns: dict[str, str],
                   people: int, seed: int = 7) -> Scenario:
    """``people`` persons: two thirds new followers, one third existing followers (some
    already Contacts); each scans a code of one of the campaigns (``codes``: CampaignId →
    its code scenes), a quarter scan again (maybe another store's code), a few scan the
    other campaign's code too, a sixth click the menu, and a few unfollow at the end."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible scenario, not cryptography
    followers = population.openids(subscribed=True)
    strangers = population.openids(subscribed=False)
    existing = rng.sample(followers, min(len(followers), people // 3))
    needed = people - len(existing)
    new = strangers[:needed]  # people who don't follow yet, then brand-new ones
    new += [population.new_follower().openid for _ in range(needed - len(new))]
    contacts = {openid: f"Existing Contact {i + 1}" for i, openid in enumerate(existing[::2])}
    scenario = Scenario(campaigns=campaigns, contacts=contacts, codes=codes, new=set(new))
    order = list(codes)
    everyone = existing + new
    rng.shuffle(everyone)

    def scene(i: int, shift: int = 0) -> str:
        return rng.choice(codes[order[(i + shift) % len(order)]])

    for i, openid in enumerate(everyone):
        scenario.acts.append((openid, "scan", scene(i)))
    for openid in rng.sample(everyone, len(everyone) // 4):  # a second scan, same campaign
        scenario.acts.append((openid, "scan", scene(everyone.index(openid))))
    for openid in rng.sample(everyone, max(1, len(everyone) // 10)):  # the other one too
        scenario.acts.append((openid, "scan", scene(everyone.index(openid), 1)))
    for openid in rng.sample(everyone, max(1, len(everyone) // 6)):  # the menu
        scenario.acts.append((openid, "click", "MENU_OFFERS"))
    scenario.storm = len(scenario.acts) // 2
    for openid in rng.sample(everyone, max(1, len(everyone) // 20)):
        scenario.acts.append((openid, "unfollow", None))
    return scenario
