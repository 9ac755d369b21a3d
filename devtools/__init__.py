"""Development support, not the product's runtime: a whole local stack (HQ provisioned like
production, its own Mosquitto, edges in-process or as processes, a chaos proxy) for
``make demo`` and the system tests. It may import both services; they never import it."""
