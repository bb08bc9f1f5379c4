//! The docker-compose equivalent of a topology (pure).
