"""Protocol shared by edge and cloud. Never imports edge/ or cloud/."""
