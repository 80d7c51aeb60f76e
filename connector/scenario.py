"""A campaign scenario for the demo (and the end-to-end test): who scans what, and what
Salesforce should hold afterwards.

Built from a sandbox population, deterministic from a seed. Expectations are derived
from the scenario itself, so the demo can check what landed instead of trusting it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Scenario:
    """The acts to play, in order, and what should result.

    ``acts`` are (openid, action, scene) with action "scan" or "unfollow"; ``storm`` is
    the index of the act delivered four times at once (a resend storm).
    """

    campaigns: dict[str, str]  # name -> CampaignId
    contacts: dict[str, str]  # openid -> name of a Contact that already carries it
    acts: list[tuple[str, str, str | None]] = field(default_factory=list)
    storm: int | None = None

    @property
    def people(self) -> set[str]:
        return {openid for openid, _, _ in self.acts}

    def members(self) -> dict[str, set[str]]:
        """CampaignId -> openids that scanned it (each a member once)."""
        out: dict[str, set[str]] = {cid: set() for cid in self.campaigns.values()}
        for openid, action, scene in self.acts:
            if action == "scan":
                out[scene.removeprefix("sfc_")].add(openid)
        return out

    def expected(self) -> dict[str, int]:
        scanners = {o for o, a, _ in self.acts if a == "scan"}
        return {
            "followers": len(self.people),
            "leads_created": len(scanners - set(self.contacts)),
            "contacts_matched": len(scanners & set(self.contacts)),
            **{f"members:{cid}": len(m) for cid, m in self.members().items()},
        }


def build_scenario(population, campaigns: dict[str, str], people: int,
                   seed: int = 7) -> Scenario:
    """``people`` persons: two thirds new followers, one third existing followers (some
    already Contacts); each scans one of the campaigns, a quarter scan twice, a few scan
    both codes and a few unfollow at the end."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible scenario, not cryptography
    followers = population.openids(subscribed=True)
    strangers = population.openids(subscribed=False)
    existing = rng.sample(followers, min(len(followers), people // 3))
    needed = people - len(existing)
    new = strangers[:needed]  # people who don't follow yet, then brand-new ones
    new += [population.new_follower().openid for _ in range(needed - len(new))]
    contacts = {openid: f"Existing Contact {i + 1}" for i, openid in enumerate(existing[::2])}
    scenes = [f"sfc_{cid}" for cid in campaigns.values()]
    scenario = Scenario(campaigns=campaigns, contacts=contacts)
    everyone = existing + new
    rng.shuffle(everyone)
    for i, openid in enumerate(everyone):
        scenario.acts.append((openid, "scan", scenes[i % len(scenes)]))
    for openid in rng.sample(everyone, len(everyone) // 4):  # a second scan, same code
        scenario.acts.append((openid, "scan", scenes[everyone.index(openid) % len(scenes)]))
    for openid in rng.sample(everyone, max(1, len(everyone) // 10)):  # the other code too
        scenario.acts.append((openid, "scan", scenes[(everyone.index(openid) + 1) % len(scenes)]))
    scenario.storm = len(scenario.acts) // 2
    for openid in rng.sample(everyone, max(1, len(everyone) // 20)):
        scenario.acts.append((openid, "unfollow", None))
    return scenario
