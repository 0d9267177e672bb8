"""Who is signed where: regions, centres, residents, agreements (POLICY.md "Signing rules")."""
