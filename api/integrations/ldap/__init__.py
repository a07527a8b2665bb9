"""LDAP / Active Directory: ``LdapDirectory(settings.ldap, bind_password=…)`` (client.py), or ``directory(settings)``
(connect.py) with the configured bind password decrypted; configured by ``LdapSettings`` (settings.py);
docs/directory.md."""
