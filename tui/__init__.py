"""dltui's terminal faces: the typer CLI, the rich printer and the Textual app."""
