"""Flask extensions shared by the blueprints."""

from flask_wtf import CSRFProtect

csrf = CSRFProtect()
