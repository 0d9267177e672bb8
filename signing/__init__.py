"""Who is signed where (POLICY.md "Signing rules"): agreements, change requests, consents, the packages an
agreement holds, cycles and roll-over. Publishes events (signing.events) that care follows."""
