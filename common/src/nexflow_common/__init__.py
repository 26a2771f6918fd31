"""What every Nexflow service shares: which text is a secret (`secrets`) and the one
logging setup that redacts every line (`logs`), the skill images nsjail can stand in for
(`images`). Nothing here imports a service."""
