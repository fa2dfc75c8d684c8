"""The invited user's way in: the set-password link of an invitation (billing_core.users.
invitations). A used, revoked or expired link says so and what to do; the password follows the
house rules; then the login page."""

from __future__ import annotations

from flask import current_app, flash, render_template, url_for

from billing_core.mail.delivery import send_soon
from billing_core.users import invitations
from portal.auth import bp
from portal.auth.forms import ResetForm
from portal.extensions import db_session
from portal.web import client_ip, now, run_action, see_other


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def invitation_accept(token: str):
    invitation = invitations.invitation_for_token(db_session(), token, now())
    if invitation is None:
        flash(invitations.EXPIRED, "error")
        return see_other(url_for("auth.login"))
    user = invitation.user
    form = ResetForm()
    if not form.validate_on_submit():
        return render_template("auth/invitation.html", form=form, user=user)

    def refused(error):
        form.new_password.errors.append(str(error))
        return render_template("auth/invitation.html", form=form, user=user), 200

    return run_action(
        lambda: invitations.accept(
            db_session(), token, form.new_password.data, now=now(), ip_address=client_ip()
        ),
        done="Your password is set. Log in with your e-mail address and your new password.",
        to=url_for("auth.login"),
        refused=refused,
    )


def send_invitation_now(invited: invitations.Invited) -> None:
    """Sent now (or by the mail worker) rather than at the next `flask mail send`; without SMTP
    it stays in the outbox (the link is logged for development)."""
    settings = current_app.config["SETTINGS"]
    if invited.message is None:
        return
    if settings.mail_configured:
        send_soon(settings, current_app.extensions["session_factory"], [invited.message.id])
    else:
        current_app.logger.info(
            "invitation kept in the outbox for user %s: %s%s",
            invited.user.id,
            settings.portal_url,
            invited.link_path,
        )
