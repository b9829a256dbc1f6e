"""When a node renews a pod's token: as a kubelet does, at 80 % of its lifetime, after a day at most."""

from __future__ import annotations

from naksha.local.kubelet.credentials import refresh_time


class TestRenewalTime:
    def test_a_short_token_is_renewed_at_80_percent_of_its_life(self):
        assert refresh_time(1000.0, 1010.0) == 1008.0

    def test_a_token_living_a_year_is_renewed_after_a_day(self):
        assert refresh_time(0.0, 365 * 86400.0) == 86400.0

    def test_an_already_expired_token_is_renewed_at_once(self):
        assert refresh_time(50.0, 40.0) == 50.0
