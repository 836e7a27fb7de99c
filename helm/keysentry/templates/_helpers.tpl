{{- define "keysentry.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "keysentry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "keysentry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keysentry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "keysentry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "keysentry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "keysentry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "keysentry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "keysentry.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The checks a wrong combination of values fails at install with. */}}
{{- define "keysentry.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (ne .Values.database.type "postgresql") -}}
{{- fail "replicaCount > 1 needs database.type: postgresql (replicas share the scan lock through PostgreSQL; a SQLite file cannot be shared)" -}}
{{- end -}}
{{- if eq .Values.database.type "postgresql" -}}
{{- if or (not .Values.existingSecret) (not (hasKey .Values.secretEnv "KEYSENTRY_DATABASE_URL")) -}}
{{- fail "database.type: postgresql needs existingSecret and secretEnv.KEYSENTRY_DATABASE_URL (the key of the database URL in that Secret)" -}}
{{- end -}}
{{- end -}}
{{- $grace := toString (default "30s" (dig "worker" "shutdown_grace" "30s" .Values.config)) -}}
{{- $seconds := -1 -}}
{{- if regexMatch "^[0-9]+(s)?$" $grace -}}
{{- $seconds = int (trimSuffix "s" $grace) -}}
{{- else if regexMatch "^[0-9]+m$" $grace -}}
{{- $seconds = mul (int (trimSuffix "m" $grace)) 60 -}}
{{- end -}}
{{- if and (ge (int $seconds) 0) (le (int .Values.terminationGracePeriodSeconds) (int $seconds)) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be longer than config.worker.shutdown_grace (%s): a scan stopping on SIGTERM needs that long" .Values.terminationGracePeriodSeconds $grace) -}}
{{- end -}}
{{- if and .Values.secretEnv (not .Values.existingSecret) -}}
{{- fail "secretEnv needs existingSecret: the Secret its keys are read from" -}}
{{- end -}}
{{- end -}}
