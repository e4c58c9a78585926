"""rastro chaos verification: produce under a fault, prove nothing acknowledged is lost."""
