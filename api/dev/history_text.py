"""What the demo history's employees wrote and the bot answered (api/dev/history.py). Fictional, written for it.

``ISSUES[category]``: (intent, ticket type, ticket title, what the employee typed first).
"""

from __future__ import annotations

Issue = tuple[str, str, str, str]

ISSUES: dict[str, list[Issue]] = {
    "accounts": [
        ("password_reset", "request", "Password expired while on leave",
         "my password expired while I was on holiday and now nothing accepts it"),
        ("account_unlock", "incident", "Account locked after too many attempts",
         "I typed the old password a few times and now my account is locked"),
        ("mfa_problem", "incident", "New phone, authenticator codes no longer work",
         "I switched phones and the authenticator app shows no codes for work"),
        ("mfa_problem", "incident", "MFA prompt never arrives",
         "the sign-in approval notification never shows up on my phone"),
        ("password_reset", "request", "Cannot change password on the self-service page",
         "the password change page keeps saying my new password does not meet the rules"),
    ],
    "access": [
        ("access_request", "request", "Access to the Finance quarterly close folder",
         "I need read access to the finance quarter-end folder for the audit"),
        ("access_request", "request", "Edit rights on the Marketing SharePoint site",
         "can I get edit rights on the marketing campaign site, I can only view it"),
        ("access_request", "request", "Add me to the payroll-reports group",
         "please add me to the group that can open the payroll reports"),
        ("access_request", "request", "Jira project access for a contractor",
         "our new contractor cannot see the Apollo project in Jira"),
    ],
    "security": [
        ("open_ticket", "incident", "Suspicious invoice e-mail with a link",
         "I got an invoice mail from a supplier we never use asking me to log in, is it phishing"),
        ("open_ticket", "incident", "Laptop left on the train",
         "I left my work laptop on the train this morning"),
        ("open_ticket", "incident", "Browser keeps opening unknown pages",
         "my browser opens pages with prize draws on its own since yesterday"),
    ],
    "network": [
        ("vpn_problem", "incident", "VPN disconnects every few minutes",
         "the VPN drops every five minutes when I work from home"),
        ("vpn_problem", "incident", "VPN client says certificate expired",
         "the VPN client refuses to connect and mentions an expired certificate"),
        ("wifi_problem", "incident", "No Wi-Fi in meeting room 3.14",
         "the Wi-Fi in meeting room 3.14 shows connected but no internet"),
        ("vpn_access_request", "request", "VPN access for a new remote worker",
         "I start working remotely on Mondays and need VPN access"),
        ("wifi_problem", "incident", "Guest Wi-Fi password for visitors",
         "we have visitors tomorrow, where do I find the guest Wi-Fi password"),
    ],
    "email": [
        ("email_problem", "incident", "Outlook stuck on 'Updating folder'",
         "outlook has been stuck updating my inbox since this morning"),
        ("email_problem", "request", "Access to the shared support mailbox",
         "I need to read and send from the customer support shared mailbox"),
        ("email_problem", "incident", "Meeting invites arrive an hour late",
         "calendar invitations show up in my calendar an hour off"),
        ("email_problem", "incident", "Mailbox almost full warning",
         "outlook warns my mailbox is almost full and I cannot send large mails"),
    ],
    "software": [
        ("software_request", "request", "Install Visio for process diagrams",
         "could you install Visio on my laptop, I need it for process maps"),
        ("software_problem", "incident", "Excel crashes when opening the budget file",
         "excel closes itself every time I open the budget workbook"),
        ("software_request", "request", "Licence for the PDF editor",
         "I need a licence for the PDF editor to fill in supplier forms"),
        ("software_problem", "incident", "Teams shows a blank window after update",
         "after the last update Teams opens but the window stays white"),
        ("software_problem", "incident", "ERP client error 'session expired' on login",
         "the ERP client says session expired right after I log in"),
    ],
    "hardware": [
        ("laptop_slow", "incident", "Laptop very slow after the weekend",
         "my laptop is extremely slow since Monday, the fan runs all the time"),
        ("hardware_problem", "incident", "Docking station does not detect the monitors",
         "when I dock the laptop the two monitors stay black"),
        ("hardware_problem", "request", "Replacement charger for a lost adapter",
         "I lost my laptop charger and need a replacement"),
        ("hardware_problem", "incident", "Keyboard keys stop working",
         "some keys on my laptop keyboard stopped working, the e and the r"),
        ("laptop_slow", "incident", "Laptop takes ten minutes to start",
         "starting the laptop takes ages, about ten minutes until I can work"),
    ],
    "printing": [
        ("printer_problem", "incident", "Second floor printer jams on every job",
         "the printer on the second floor jams on every job"),
        ("printer_problem", "incident", "Print jobs stay in the queue",
         "my print jobs sit in the queue and never come out"),
        ("printer_problem", "request", "Scan to e-mail on the new copier",
         "how do I set up scan to e-mail on the new copier"),
    ],
    "onboarding": [
        ("new_employee_setup", "request", "Laptop and accounts for a new starter",
         "a new analyst joins my team on the first of next month and needs a laptop and accounts"),
        ("new_employee_setup", "request", "Leaver: collect equipment and close accounts",
         "a colleague leaves on Friday, what happens to her laptop and accounts"),
        ("new_employee_setup", "request", "Intern needs a temporary account",
         "our summer intern needs an account for eight weeks"),
    ],
    "general": [
        ("ask_question", "request", "Question about the equipment policy",
         "am I allowed to take my monitor home to work remotely"),
        ("ask_question", "request", "Where to order a headset",
         "where can I order a headset for calls"),
        ("ask_question", "incident", "Desk phone shows the wrong name",
         "my desk phone still shows the name of the previous person at this desk"),
    ],
}

# Turns the NLU could not place (nlu_fallback, low confidence); they repeat, as people do.
VAGUE = [
    "it doesn't work again",
    "the thing from yesterday",
    "computer says no",
    "help with the system",
    "can someone call me",
    "its broken",
    "the portal",
]

# Later turns of a conversation: (what the employee says, its intent).
FOLLOW_UPS = [
    ("it started this morning", "inform"),
    ("it happens every time", "inform"),
    ("it is urgent, I have a deadline today", "inform"),
    ("no, nothing changed on my side", "deny"),
    ("I am working from home today", "inform"),
    ("I tried that already", "inform"),
]

BOT_ASKS = [
    "Could you tell me a bit more? When did it start, and does it happen every time?",
    "Thanks. Have you restarted the device since it started?",
    "Got it. Is anyone else in your team affected?",
]
THANKS = ("ok, thanks", "thank")  # the employee's last word when the bot had the last turn
BOT_ANSWER = "This article should help:"
BOT_WORKFLOW = "I can do that for you right away. Done: please try again now."
BOT_TICKET = "I have opened a ticket for you; the service desk will get back to you."
BOT_OPEN = "I'm not sure I understood. You can rephrase it, or I can open a ticket for you."

WORKFLOWS = {"account_unlock": "Account unlock for {user}", "password_reset": "Password reset for {user}"}
