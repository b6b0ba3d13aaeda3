import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="Advisory",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("osv_id", models.CharField(help_text="OSV id: GHSA-..., PYSEC-..., DSA-...", max_length=100,
                                            unique=True, verbose_name="id")),
                ("aliases", django.contrib.postgres.fields.ArrayField(
                    base_field=models.CharField(max_length=100), blank=True, default=list,
                    help_text="Other ids of the same vulnerability, such as CVE ids.", size=None)),
                ("summary", models.CharField(blank=True, max_length=1000)),
                ("details", models.TextField(blank=True)),
                ("severity", models.CharField(choices=[("critical", "Critical"), ("high", "High"), ("medium", "Medium"),
                                                       ("low", "Low"), ("info", "Info")],
                                              default="medium", max_length=10)),
                ("severity_source", models.CharField(
                    blank=True, max_length=20,
                    help_text="cvss_v3 / cvss_v2 (computed from the vector), database (the advisory's own rating) "
                              "or default.")),
                ("cvss_vector", models.CharField(blank=True, max_length=200)),
                ("cvss_score", models.DecimalField(blank=True, decimal_places=1, max_digits=3, null=True)),
                ("references", models.JSONField(blank=True, default=list)),
                ("published", models.DateTimeField(blank=True, null=True)),
                ("modified", models.DateTimeField()),
                ("withdrawn", models.DateTimeField(blank=True, null=True)),
                ("schema_version", models.CharField(blank=True, max_length=20)),
                ("source", models.CharField(blank=True, help_text="Where it was imported from.", max_length=500)),
                ("imported_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name_plural": "advisories",
                "ordering": ("-modified",),
                "indexes": [
                    django.contrib.postgres.indexes.GinIndex(fields=["aliases"], name="advisory_aliases_gin"),
                    models.Index(fields=["-modified"], name="advisory_modified_idx"),
                    models.Index(fields=["severity"], name="advisory_severity_idx"),
                ],
            },
        ),
        migrations.CreateModel(
            name="AffectedPackage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("osv_ecosystem", models.CharField(
                    help_text='As written in OSV: "PyPI", "Debian:12", "Alpine:v3.19".', max_length=100)),
                ("ecosystem", models.CharField(
                    blank=True, help_text="Gatehouse ecosystem (pypi, npm, debian, rpm, alpine); empty for others.",
                    max_length=20)),
                ("name", models.CharField(max_length=255)),
                ("normalized_name", models.CharField(max_length=255)),
                ("purl", models.CharField(blank=True, max_length=500)),
                ("ranges", models.JSONField(blank=True, default=list)),
                ("versions", django.contrib.postgres.fields.ArrayField(
                    base_field=models.CharField(max_length=200), blank=True, default=list, size=None)),
                ("fixed", django.contrib.postgres.fields.ArrayField(
                    base_field=models.CharField(max_length=200), blank=True, default=list, size=None)),
                ("severity", models.CharField(blank=True, help_text="The ecosystem's own rating, when it has one.",
                                              max_length=10)),
                ("advisory", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="affected",
                                               to="advisories.advisory")),
            ],
            options={
                "verbose_name_plural": "affected packages",
                "indexes": [models.Index(fields=["ecosystem", "normalized_name"], name="affected_eco_name_idx")],
            },
        ),
    ]
