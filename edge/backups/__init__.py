"""What a dead box would take with it now (RPO): the age of the oldest event HQ has not
acknowledged, and the age of the last local backup."""
