"""Developer tooling (test fixtures, local stack): not shipped in any image."""
