"""Alert routing, rendering and delivery (email, webhook)."""
